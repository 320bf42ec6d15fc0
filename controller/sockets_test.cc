#include "controller/sockets.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>

#include "controller/process.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

IpAddress V4(const char* text) {
  std::vector<IpAddress> a;
  REQUIRE(HostAddresses(text, &a));
  REQUIRE(a.size() == 1);
  return a[0];
}

// The address as /proc/net/tcp{,6} prints it: each 32-bit word in the
// machine's byte order, %08X.
std::string Hex(const IpAddress& a, bool v6) {
  std::string s;
  char buf[9];
  for (int i = v6 ? 0 : 3; i < 4; ++i) {
    uint32_t word;
    std::memcpy(&word, a.data() + i * 4, 4);
    std::snprintf(buf, sizeof(buf), "%08X", word);
    s += buf;
  }
  return s;
}

std::string Line(int sl, const std::string& local, const std::string& state,
                 uint64_t inode) {
  return "  " + std::to_string(sl) + ": " + local + " 00000000:0000 " + state +
         " 00000000:00000000 00:00000000 00000000     0        0 " +
         std::to_string(inode) + " 1 0000000000000000 100 0 0 10 0\n";
}

TEST_CASE("listening sockets are read from /proc/net/tcp and tcp6 text",
          "[sockets]") {
  IpAddress lo = V4("127.0.0.1"), any4 = V4("0.0.0.0"), lo6 = V4("::1"),
            any6 = V4("::");
  std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
      "retrnsmt   uid  timeout inode\n" +
      Line(0, Hex(lo, false) + ":4959", "0A", 1099040) +
      Line(1, Hex(any4, false) + ":0050", "0A", 222) +
      Line(2, Hex(lo, false) + ":4959", "01", 0) +  // established
      "  3: garbage\n";
  std::vector<ListenEntry> v4 = ParseListenSockets(tcp, false);
  REQUIRE(v4.size() == 2);
  CHECK_FALSE(v4[0].v6);
  CHECK(v4[0].address == lo);
  CHECK(v4[0].port == 18777);
  CHECK(v4[0].inode == 1099040);
  CHECK(v4[1].address == any4);
  CHECK(v4[1].port == 80);
  CHECK(v4[1].inode == 222);

  std::string tcp6 = Line(0, Hex(any6, true) + ":1F90", "0A", 333) +
                     Line(1, Hex(lo6, true) + ":1F91", "0A", 334);
  std::vector<ListenEntry> v6 = ParseListenSockets(tcp6, true);
  REQUIRE(v6.size() == 2);
  CHECK(v6[0].v6);
  CHECK(v6[0].address == any6);
  CHECK(v6[0].port == 8080);
  CHECK(v6[0].inode == 333);
  CHECK(v6[1].address == lo6);
  CHECK(v6[1].port == 8081);
}

TEST_CASE("a probe host is localhost or a numeric address", "[sockets]") {
  std::vector<IpAddress> a;
  REQUIRE(HostAddresses("localhost", &a));
  CHECK(a == std::vector<IpAddress>{V4("127.0.0.1"), V4("::1")});
  REQUIRE(HostAddresses("[::1]", &a));
  CHECK(a == std::vector<IpAddress>{V4("::1")});
  // IPv4 is kept IPv4-mapped.
  IpAddress mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  CHECK(V4("10.1.2.3") == mapped);
  CHECK_FALSE(HostAddresses("example.com", &a));
  CHECK_FALSE(HostAddresses("127.1", &a));
  CHECK_FALSE(HostAddresses("", &a));
}

TEST_CASE(
    "a connection reaches the socket bound to its address before the "
    "wildcard, and IPv4 the dual-stack wildcard last",
    "[sockets]") {
  std::vector<ListenEntry> e = {
      {false, V4("127.0.0.1"), 80, 1}, {false, V4("0.0.0.0"), 80, 2},
      {true, V4("::"), 80, 3},         {false, V4("127.0.0.1"), 81, 4},
      {false, V4("0.0.0.0"), 82, 6},   {false, V4("0.0.0.0"), 82, 5},
      {true, V4("::1"), 83, 7},        {true, V4("::"), 83, 8},
      {true, V4("::"), 84, 9},         {true, V4("::ffff:127.0.0.1"), 86, 10},
      {false, V4("0.0.0.0"), 86, 11}};
  using Inodes = std::vector<uint64_t>;
  CHECK(ReachedListeners(e, V4("127.0.0.1"), 80) == Inodes{1});
  CHECK(ReachedListeners(e, V4("10.0.0.1"), 80) == Inodes{2});
  CHECK(ReachedListeners(e, V4("::1"), 80) == Inodes{3});
  CHECK(ReachedListeners(e, V4("127.0.0.1"), 82) == Inodes{5, 6});  // reuseport
  CHECK(ReachedListeners(e, V4("::1"), 83) == Inodes{7});
  CHECK(ReachedListeners(e, V4("::2"), 83) == Inodes{8});
  CHECK(ReachedListeners(e, V4("127.0.0.1"), 84) == Inodes{9});
  CHECK(ReachedListeners(e, V4("127.0.0.1"), 86) == Inodes{10});
  CHECK(ReachedListeners(e, V4("127.0.0.1"), 85).empty());
  CHECK(ReachedListeners(e, V4("::1"), 81).empty());
}

// A TCP socket listening on 127.0.0.1 (a port the kernel picks).
struct ListeningSocket {
  ListeningSocket() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        listen(fd, 8) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  ~ListeningSocket() {
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  int port = 0;
};

// A forked child, killed (SIGKILL) and reaped on destruction unless
// already reaped.
struct Child {
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  int Wait() {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = 0;
    return status;
  }
  pid_t pid = 0;
};

SocketHolder Self() {
  SocketHolder self{getpid(), getppid(), 0};
  ReadStartTime(self.pid, &self.start_time);
  return self;
}

bool SameHolders(const std::vector<SocketHolder>& a,
                 const std::vector<SocketHolder>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].pid != b[i].pid || a[i].parent_pid != b[i].parent_pid ||
        a[i].start_time != b[i].start_time) {
      return false;
    }
  }
  return true;
}

TEST_CASE(
    "the real inspector finds this process and a forked child holding a "
    "listener, and sees the child let go and exit",
    "[sockets]") {
  ListeningSocket listener;
  REQUIRE(listener.port > 0);
  SocketInspector* inspector = RealSocketInspector();
  Listener found;
  std::string err;
  REQUIRE(inspector->FindListener("127.0.0.1", listener.port, &found, &err));
  REQUIRE(found.inodes.size() == 1);
  CHECK(SameHolders(found.holders, {Self()}));
  Listener by_name;
  REQUIRE(inspector->FindListener("localhost", listener.port, &by_name, &err));
  CHECK(by_name.inodes == found.inodes);
  // The kernel's /proc/net/tcp (read when netlink is not available) lists
  // the same socket.
  int listed = 0;
  for (const ListenEntry& e :
       ParseListenSockets(testing::ReadWholeFile("/proc/net/tcp"), false)) {
    if (e.port != listener.port) continue;
    ++listed;
    CHECK(e.address == V4("127.0.0.1"));
    CHECK(e.inode == found.inodes[0]);
  }
  CHECK(listed == 1);

  // The child holds the listener until it reads a byte, then says so and
  // waits for the pipe to close.
  int to_child[2], from_child[2];
  REQUIRE(pipe(to_child) == 0);
  REQUIRE(pipe(from_child) == 0);
  Child child;
  child.pid = fork();
  REQUIRE(child.pid >= 0);
  if (child.pid == 0) {
    close(to_child[1]);
    close(from_child[0]);
    char c;
    if (read(to_child[0], &c, 1) != 1) _exit(1);
    close(listener.fd);
    if (write(from_child[1], "x", 1) != 1) _exit(1);
    while (read(to_child[0], &c, 1) > 0) {
    }
    _exit(0);
  }
  close(to_child[0]);
  close(from_child[1]);
  SocketHolder kid{child.pid, getpid(), 0};
  REQUIRE(ReadStartTime(kid.pid, &kid.start_time));

  REQUIRE(inspector->FindListener("127.0.0.1", listener.port, &found, &err));
  std::vector<SocketHolder> expected = {Self(), kid};
  if (kid.pid < expected[0].pid) std::swap(expected[0], expected[1]);
  CHECK(SameHolders(found.holders, expected));
  bool holds = false;
  REQUIRE(inspector->StillHolds(kid, found.inodes, &holds, &err));
  CHECK(holds);
  // Same pid, other start time: another process, which holds nothing.
  SocketHolder impostor = Self();
  impostor.start_time += 1;
  REQUIRE(inspector->StillHolds(impostor, found.inodes, &holds, &err));
  CHECK_FALSE(holds);

  char c = 'x';
  REQUIRE(write(to_child[1], &c, 1) == 1);
  REQUIRE(read(from_child[0], &c, 1) == 1);
  REQUIRE(inspector->StillHolds(kid, found.inodes, &holds, &err));
  CHECK_FALSE(holds);
  REQUIRE(inspector->FindListener("127.0.0.1", listener.port, &found, &err));
  CHECK(SameHolders(found.holders, {Self()}));

  close(to_child[1]);
  close(from_child[0]);
  CHECK(child.Wait() == 0);
  REQUIRE(inspector->StillHolds(kid, found.inodes, &holds, &err));
  CHECK_FALSE(holds);
}

TEST_CASE(
    "the real inspector cannot tell when nothing listens or the host is "
    "not local",
    "[sockets]") {
  SocketInspector* inspector = RealSocketInspector();
  Listener found;
  std::string err;
  int port = testing::PickFreePort();
  CHECK_FALSE(inspector->FindListener("127.0.0.1", port, &found, &err));
  CHECK(err == "no socket listening on 127.0.0.1:" + std::to_string(port));
  CHECK_FALSE(inspector->FindListener("192.0.2.1", port, &found, &err));
  CHECK(err == "probe host 192.0.2.1 is not an address of this machine");
  CHECK_FALSE(inspector->FindListener("example.com", port, &found, &err));
  CHECK(err == "probe host example.com is not localhost or a numeric address");
}

// Both ends of a pipe, closed on destruction.
struct Pipe {
  Pipe() { ok = pipe(fd) == 0; }
  ~Pipe() {
    Close(0);
    Close(1);
  }
  void Close(int end) {
    if (fd[end] >= 0) close(fd[end]);
    fd[end] = -1;
  }
  int fd[2] = {-1, -1};
  bool ok = false;
};

// Becomes `pw`'s user and group; `dumpable` false keeps other processes of
// that user from reading this one's /proc/PID/fd. In a child only.
void BecomeUser(const passwd* pw, bool dumpable) {
  if (setgroups(0, nullptr) != 0 ||
      setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
      setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0 ||
      prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0) != 0) {
    _exit(3);
  }
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

TEST_CASE(
    "a child of a holder whose descriptors cannot be read makes the real "
    "inspector say it cannot tell",
    "[sockets]") {
  const passwd* pw = getpwnam("nobody");
  if (geteuid() != 0 || pw == nullptr) {
    WARN("needs root and a user nobody to run; skipped");
    return;
  }
  ListeningSocket listener;
  REQUIRE(listener.port > 0);
  // Destroyed in reverse: the pipes close first (the children's cue to
  // exit), then the children are killed if still there and reaped.
  Child holder, looker;
  Pipe hold, ready, result;
  REQUIRE((hold.ok && ready.ok && result.ok));

  // The holder runs as nobody, readable; its child as nobody, not dumpable.
  // Both keep the listener until `hold` closes. The child reports its pid.
  holder.pid = fork();
  REQUIRE(holder.pid >= 0);
  if (holder.pid == 0) {
    for (int fd : {hold.fd[1], ready.fd[0], result.fd[0], result.fd[1]}) {
      close(fd);
    }
    BecomeUser(pw, true);
    pid_t hidden = fork();
    if (hidden == 0) {
      prctl(PR_SET_DUMPABLE, 0);
      pid_t self = getpid();
      if (write(ready.fd[1], &self, sizeof(self)) < 0) _exit(1);
    }
    char c;
    while (read(hold.fd[0], &c, 1) > 0) {
    }
    if (hidden > 0) waitpid(hidden, nullptr, 0);
    _exit(0);
  }
  hold.Close(0);
  ready.Close(1);
  SocketHolder hidden;
  REQUIRE(read(ready.fd[0], &hidden.pid, sizeof(hidden.pid)) ==
          sizeof(hidden.pid));
  hidden.parent_pid = holder.pid;
  REQUIRE(ReadStartTime(hidden.pid, &hidden.start_time));

  // Another process of nobody looks, and reports what it found.
  looker.pid = fork();
  REQUIRE(looker.pid >= 0);
  if (looker.pid == 0) {
    close(listener.fd);
    BecomeUser(pw, true);
    SocketInspector* inspector = RealSocketInspector();
    Listener found;
    std::string find_err, still_err;
    bool found_ok =
        inspector->FindListener("127.0.0.1", listener.port, &found, &find_err);
    bool holds = false;
    bool still_ok = inspector->StillHolds(hidden, {1}, &holds, &still_err);
    WriteAll(result.fd[1], std::to_string(found_ok) + "|" + find_err + "|" +
                               std::to_string(still_ok) + "|" + still_err);
    _exit(0);
  }
  result.Close(1);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = read(result.fd[0], buf, sizeof(buf))) > 0;) {
    report.append(buf, static_cast<size_t>(n));
  }
  CHECK(looker.Wait() == 0);
  std::string h = std::to_string(hidden.pid);
  CHECK(report == "0|cannot read /proc/" + h +
                      "/fd: Permission denied; process " + h + ", a child of " +
                      std::to_string(holder.pid) +
                      " which holds the socket listening on 127.0.0.1:" +
                      std::to_string(listener.port) +
                      ", may hold it too|0|cannot read /proc/" + h +
                      "/fd: Permission denied");
  hold.Close(1);
  CHECK(holder.Wait() == 0);
}

}  // namespace
}  // namespace bgctl
