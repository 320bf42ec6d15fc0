#include "controller/sockets.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace bgctl {

namespace {

IpAddress MappedV4(const unsigned char bytes[4]) {
  IpAddress a{};
  a[10] = a[11] = 0xff;
  std::memcpy(a.data() + 12, bytes, 4);
  return a;
}

bool IsMappedV4(const IpAddress& a) {
  static const unsigned char kPrefix[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.data(), kPrefix, 12) == 0;
}

bool IsLoopback(const IpAddress& a) {
  if (IsMappedV4(a)) return a[12] == 127;
  IpAddress one{};
  one[15] = 1;
  return a == one;
}

// /proc/net/tcp prints each 32-bit word of the address in the machine's
// byte order as 8 hex digits.
bool ParseHexAddress(const std::string& hex, bool v6, IpAddress* out) {
  size_t words = v6 ? 4 : 1;
  if (hex.size() != words * 8) return false;
  unsigned char bytes[16];
  for (size_t i = 0; i < words; ++i) {
    uint32_t word = 0;
    for (size_t j = 0; j < 8; ++j) {
      char c = hex[i * 8 + j];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -1;
      if (digit < 0) return false;
      word = word << 4 | static_cast<uint32_t>(digit);
    }
    std::memcpy(bytes + i * 4, &word, 4);
  }
  if (v6) {
    std::memcpy(out->data(), bytes, 16);
  } else {
    *out = MappedV4(bytes);
  }
  return true;
}

// One line: "sl local_address rem_address st tx:rx tr:when retrnsmt uid
// timeout inode ...", local_address being HEXADDR:HEXPORT.
bool ParseLine(const std::string& line, bool v6, ListenEntry* e) {
  std::istringstream in(line);
  std::string sl, local, remote, state, queues, timer, retransmits, uid,
      timeout;
  uint64_t inode = 0;
  if (!(in >> sl >> local >> remote >> state >> queues >> timer >>
        retransmits >> uid >> timeout >> inode)) {
    return false;
  }
  size_t colon = local.find(':');
  if (state != "0A" || colon == std::string::npos) return false;
  std::string port_hex = local.substr(colon + 1);
  if (port_hex.empty() || port_hex.size() > 4 ||
      port_hex.find_first_not_of("0123456789ABCDEFabcdef") !=
          std::string::npos) {
    return false;
  }
  e->v6 = v6;
  e->port = static_cast<int>(std::stoul(port_hex, nullptr, 16));
  e->inode = inode;
  return ParseHexAddress(local.substr(0, colon), v6, &e->address);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct ProcStatus {
  char state = 0;
  int parent_pid = 0;
  uint64_t start_time = 0;
};

// Fields 3 (state), 4 (ppid) and 22 (start time) of /proc/PID/stat.
bool ReadStatus(int pid, ProcStatus* st) {
  std::string text = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = text.rfind(')');  // the command name may hold ')'
  if (paren == std::string::npos) return false;
  std::istringstream in(text.substr(paren + 1));
  std::string field;
  if (!(in >> st->state >> st->parent_pid)) return false;
  for (int i = 5; i < 22; ++i) {
    if (!(in >> field)) return false;
  }
  return static_cast<bool>(in >> st->start_time);
}

// Whether the folder /proc/PID/fd has a link to one of `inodes` (sorted).
// *error is the errno of opening the folder (0 when read).
bool FdsHold(int pid, const std::vector<uint64_t>& inodes, int* error) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  *error = d == nullptr ? errno : 0;
  if (d == nullptr) return false;
  bool found = false;
  char target[64];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
    if (n <= 8 || std::memcmp(target, "socket:[", 8) != 0) continue;
    target[n] = '\0';
    uint64_t inode = std::strtoull(target + 8, nullptr, 10);
    if (std::binary_search(inodes.begin(), inodes.end(), inode)) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

// Whether `a` is an address of one of this machine's interfaces.
bool IsLocalAddress(const IpAddress& a) {
  if (IsLoopback(a)) return true;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool local = false;
  for (ifaddrs* i = list; i != nullptr && !local; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      local = MappedV4(reinterpret_cast<unsigned char*>(&sin->sin_addr)) == a;
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      local = std::memcmp(&sin6->sin6_addr, a.data(), 16) == 0;
    }
  }
  freeifaddrs(list);
  return local;
}

class ProcSocketInspector : public SocketInspector {
 public:
  bool FindListener(const std::string& host, int port, Listener* out,
                    std::string* err) override {
    std::string where = host + ":" + std::to_string(port);
    std::vector<IpAddress> addresses;
    if (!HostAddresses(host, &addresses)) {
      *err = "probe host " + host + " is not localhost or a numeric address";
      return false;
    }
    std::vector<ListenEntry> entries = ListenSockets();
    std::set<uint64_t> inodes;
    for (const IpAddress& a : addresses) {
      if (!IsLocalAddress(a)) {
        *err = "probe host " + host + " is not an address of this machine";
        return false;
      }
      for (uint64_t inode : ReachedListeners(entries, a, port)) {
        inodes.insert(inode);
      }
    }
    if (inodes.empty()) {
      *err = "no socket listening on " + where;
      return false;
    }
    out->inodes.assign(inodes.begin(), inodes.end());
    out->holders.clear();
    return FindHolders(where, out, err);
  }

  bool StillHolds(const SocketHolder& process,
                  const std::vector<uint64_t>& inodes, bool* holds,
                  std::string* err) override {
    ProcStatus st;
    *holds = false;
    if (!ReadStatus(process.pid, &st) || st.state == 'Z' ||
        st.start_time != process.start_time) {
      return true;  // exited
    }
    int error = 0;
    *holds = FdsHold(process.pid, inodes, &error);
    if (error == 0 || error == ENOENT) return true;
    *err = "cannot read /proc/" + std::to_string(process.pid) +
           "/fd: " + std::strerror(error);
    return false;
  }

 private:
  // The listening TCP sockets, from netlink or else /proc/net/tcp{,6}.
  static std::vector<ListenEntry> ListenSockets() {
    std::vector<ListenEntry> entries;
    if (NetlinkListenSockets(AF_INET, &entries) &&
        NetlinkListenSockets(AF_INET6, &entries)) {
      return entries;
    }
    entries = ParseListenSockets(ReadAll("/proc/net/tcp"), false);
    std::vector<ListenEntry> v6 =
        ParseListenSockets(ReadAll("/proc/net/tcp6"), true);
    entries.insert(entries.end(), v6.begin(), v6.end());
    return entries;
  }

  // Scans every process's descriptors for out->inodes.
  bool FindHolders(const std::string& where, Listener* out, std::string* err) {
    DIR* proc = opendir("/proc");
    if (proc == nullptr) {
      *err = std::string("cannot read /proc: ") + std::strerror(errno);
      return false;
    }
    std::vector<std::pair<int, int>> unreadable;  // pid, errno
    while (dirent* e = readdir(proc)) {
      int pid = std::atoi(e->d_name);
      if (pid <= 0) continue;
      int error = 0;
      ProcStatus st;
      if (FdsHold(pid, out->inodes, &error)) {
        if (ReadStatus(pid, &st)) {
          out->holders.push_back({pid, st.parent_pid, st.start_time});
        }
      } else if (error == EACCES || error == EPERM) {
        unreadable.push_back({pid, error});
      }
    }
    closedir(proc);
    std::sort(out->holders.begin(), out->holders.end(),
              [](const SocketHolder& a, const SocketHolder& b) {
                return a.pid < b.pid;
              });
    if (out->holders.empty()) {
      *err = "no process found holding the socket listening on " + where;
      if (!unreadable.empty()) {
        *err += " (the descriptors of " + std::to_string(unreadable.size()) +
                " processes are not readable)";
      }
      return false;
    }
    for (auto [pid, error] : unreadable) {
      ProcStatus st;
      if (!ReadStatus(pid, &st)) continue;
      for (const SocketHolder& h : out->holders) {
        if (st.parent_pid != h.pid) continue;
        *err = "cannot read /proc/" + std::to_string(pid) +
               "/fd: " + std::strerror(error) + "; process " +
               std::to_string(pid) + ", a child of " + std::to_string(h.pid) +
               " which holds the socket listening on " + where +
               ", may hold it too";
        return false;
      }
    }
    return true;
  }
};

}  // namespace

bool NetlinkListenSockets(int family, std::vector<ListenEntry>* out) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return false;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << 10;  // TCP_LISTEN
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  bool ok = sendto(fd, &message, sizeof(message), 0,
                   reinterpret_cast<sockaddr*>(&kernel),
                   sizeof(kernel)) == static_cast<ssize_t>(sizeof(message));
  alignas(nlmsghdr) char buf[16384];
  bool done = false;
  while (ok && !done) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      ok = false;
      break;
    }
    int left = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        ok = false;
        break;
      }
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      auto* msg = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      ListenEntry e;
      e.v6 = msg->idiag_family == AF_INET6;
      if (e.v6) {
        std::memcpy(e.address.data(), msg->id.idiag_src, 16);
      } else {
        e.address =
            MappedV4(reinterpret_cast<const unsigned char*>(msg->id.idiag_src));
      }
      e.port = ntohs(msg->id.idiag_sport);
      e.inode = msg->idiag_inode;
      out->push_back(e);
    }
  }
  close(fd);
  return ok;
}

std::vector<ListenEntry> ParseListenSockets(const std::string& text, bool v6) {
  std::vector<ListenEntry> entries;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    ListenEntry e;
    if (ParseLine(line, v6, &e)) entries.push_back(e);
  }
  return entries;
}

bool HostAddresses(const std::string& host, std::vector<IpAddress>* out) {
  out->clear();
  if (host == "localhost") {
    out->push_back(
        MappedV4(reinterpret_cast<const unsigned char*>("\x7f\0\0\x01")));
    IpAddress one{};
    one[15] = 1;
    out->push_back(one);
    return true;
  }
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  unsigned char bytes[16];
  if (inet_pton(AF_INET, bare.c_str(), bytes) == 1) {
    out->push_back(MappedV4(bytes));
    return true;
  }
  if (inet_pton(AF_INET6, bare.c_str(), bytes) == 1) {
    IpAddress a;
    std::memcpy(a.data(), bytes, 16);
    out->push_back(a);
    return true;
  }
  return false;
}

std::vector<uint64_t> ReachedListeners(const std::vector<ListenEntry>& entries,
                                       const IpAddress& address, int port) {
  const IpAddress kAny6{};
  const unsigned char kZero[4] = {0, 0, 0, 0};
  const IpAddress kAny4 = MappedV4(kZero);
  bool v4 = IsMappedV4(address);
  // Each tier matches a ListenEntry; the first tier with a match wins.
  auto exact = [&](const ListenEntry& e) { return e.address == address; };
  auto wildcard = [&](const ListenEntry& e) {
    return v4 ? !e.v6 && e.address == kAny4 : e.v6 && e.address == kAny6;
  };
  auto dual_stack = [&](const ListenEntry& e) {
    return v4 && e.v6 && e.address == kAny6;
  };
  for (int tier = 0; tier < 3; ++tier) {
    std::set<uint64_t> inodes;
    for (const ListenEntry& e : entries) {
      if (e.port != port) continue;
      bool match = tier == 0   ? exact(e)
                   : tier == 1 ? wildcard(e)
                               : dual_stack(e);
      if (match) inodes.insert(e.inode);
    }
    if (!inodes.empty()) return {inodes.begin(), inodes.end()};
  }
  return {};
}

SocketInspector* RealSocketInspector() {
  static ProcSocketInspector* inspector = new ProcSocketInspector();
  return inspector;
}

}  // namespace bgctl
