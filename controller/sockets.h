// Which processes hold the TCP socket listening on an address, read from
// /proc (Linux). Nginx::Apply uses it to confirm a reload exactly: the nginx
// master and its workers hold the listening socket; on reload the old workers
// close it (when the master tells them to quit, ~100 ms after the new workers
// start), and from then on only new workers accept connections.
//
// A new kind of side effect, so it sits behind an interface like those of
// env.h: tests pass fakes.
#ifndef BGCTL_CONTROLLER_SOCKETS_H_
#define BGCTL_CONTROLLER_SOCKETS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bgctl {

// A process holding a listening socket.
struct SocketHolder {
  int pid = 0;
  int parent_pid = 0;
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat
};

// The listening socket(s) a new connection to an address reaches (several
// only with SO_REUSEPORT), and the processes holding one of them.
struct Listener {
  std::vector<uint64_t> inodes;       // sorted
  std::vector<SocketHolder> holders;  // sorted by pid
};

class SocketInspector {
 public:
  virtual ~SocketInspector() = default;
  // Finds the TCP socket(s) in state LISTEN that a connection to host:port
  // reaches, and every process holding one. `host` is "localhost" or a
  // numeric IPv4/IPv6 address (brackets allowed) of this machine. A socket
  // bound to the address itself wins over one bound to the wildcard address.
  // Returns false with *err when that cannot be told: the host is not a
  // local numeric address, nothing listens there, no process found holds the
  // socket, or a child of a holder cannot be inspected (its /proc/PID/fd is
  // not readable: another user's process while bgctl is not root), since it
  // may be a worker holding the socket too.
  virtual bool FindListener(const std::string& host, int port, Listener* out,
                            std::string* err) = 0;
  // Sets *holds to whether `process` (same pid and start time) is running
  // and holds one of `inodes`; a process that has exited (or is a zombie)
  // holds nothing. Returns false with *err when its descriptors cannot be
  // read.
  virtual bool StillHolds(const SocketHolder& process,
                          const std::vector<uint64_t>& inodes, bool* holds,
                          std::string* err) = 0;
};

// The real inspector (reads /proc), owned by the process (never deleted).
SocketInspector* RealSocketInspector();

// The parts of the real inspector that need no /proc, for tests.

// An IPv4 or IPv6 address; IPv4 ones are stored as IPv4-mapped IPv6
// (::ffff:a.b.c.d).
using IpAddress = std::array<unsigned char, 16>;

// One socket in state LISTEN from /proc/net/tcp or /proc/net/tcp6.
struct ListenEntry {
  bool v6 = false;  // from tcp6
  IpAddress address{};
  int port = 0;
  uint64_t inode = 0;
};

// Asks the kernel (netlink sock_diag, as `ss -lt` does) for the TCP sockets
// in state LISTEN of one family (AF_INET or AF_INET6), appended to *out.
// Unlike /proc/net/tcp, which lists every connection (thousands of TIME_WAIT
// ones on a busy host), this walks the listening sockets only. False when
// netlink is not available.
bool NetlinkListenSockets(int family, std::vector<ListenEntry>* out);

// The LISTEN (state 0A) sockets of the text of /proc/net/tcp (v6 false) or
// /proc/net/tcp6 (v6 true). Lines that do not parse are skipped.
std::vector<ListenEntry> ParseListenSockets(const std::string& text, bool v6);

// The addresses a connection to `host` may go to: "localhost" is 127.0.0.1
// and ::1; a numeric address (IPv6 in brackets or not) is itself. False for
// anything else.
bool HostAddresses(const std::string& host, std::vector<IpAddress>* out);

// The inodes of the sockets among `entries` that a connection to
// address:port reaches, best match first: a socket bound to the address
// (IPv4-mapped in tcp6 for an IPv4 address), else the wildcard of its
// family (0.0.0.0 for IPv4, :: for IPv6), else for IPv4 the IPv6 wildcard
// (a dual-stack socket). Sorted, no duplicates; empty when nothing matches.
std::vector<uint64_t> ReachedListeners(const std::vector<ListenEntry>& entries,
                                       const IpAddress& address, int port);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SOCKETS_H_
