// DrainingServer: an httplib::Server that can stop without losing a request
// it has accepted (see backend-sample/README.md, "How the drain works").
//
// httplib's own stop() closes connections that were accepted but not yet
// handled, with no answer, and waits for idle keep-alive connections until
// their timeout. This class replaces httplib's per-connection loop
// (process_and_close_socket) with one that
//   - answers every request whose first byte arrived, even after the drain
//     started, with "Connection: close" once draining;
//   - closes an idle keep-alive connection only when no byte of a request is
//     waiting, after a grace period that starts with the drain;
//   - runs every connection on its own thread (no connection waits in a
//     queue while another is served).
// Drain() stops new connections without resetting any that the kernel has
// already completed: it first makes the listener drop new SYNs (a socket
// filter), waits until every half-open handshake has completed and been
// accepted, and only then closes the listening socket.
#ifndef BGCTL_BACKEND_SAMPLE_SERVER_H_
#define BGCTL_BACKEND_SAMPLE_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace bgctl {

class ConnStream;  // server.cc

class DrainingServer : public httplib::Server {
 public:
  struct Options {
    int keep_alive_timeout_s = 75;  // idle keep-alive connections, serving
    int read_timeout_ms = 5000;     // between bytes of one request
    int write_timeout_ms = 5000;
    // While draining, an idle connection is closed once it has been idle
    // this long and at least this long since the drain began.
    int drain_idle_grace_ms = 1000;
    // After the last response, how long to read (and discard) until the
    // client closes, so that unread bytes never turn the close into a reset.
    int linger_ms = 500;
    int max_threads = 1024;  // connections served at once; more wait
    int max_requests_per_connection = 10000;  // the last one says "close"
  };

  explicit DrainingServer(const Options& options);
  ~DrainingServer() override;

  // Binds and listens on host:port (an IPv4 address) with SO_REUSEADDR only
  // (never SO_REUSEPORT), so a port already in use is an error. On failure
  // returns false and sets *err to "cannot listen on HOST:PORT: <reason>".
  bool Bind(const std::string& host, int port, std::string* err);

  // Accepts and serves connections until Drain() has closed the listener and
  // every connection has been closed. Returns true after such a drain, false
  // if the listener failed on its own. Call once, after Bind().
  bool Serve();

  // Starts the drain and returns once the listener is closed (normally a
  // few milliseconds; at most ~1 s). Serve() returns when the last connection
  // is closed. Thread-safe; later calls do nothing.
  void Drain();

  bool draining() const { return draining_.load(); }
  // Requests whose first byte has been read and whose response is not yet
  // fully written.
  int in_flight() const { return in_flight_.load(); }
  // Open client connections.
  int connections() const { return connections_.load(); }
  // MonotonicMs() when Drain() was first called; 0 before.
  int64_t drain_start_ms() const { return drain_start_ms_.load(); }

 private:
  enum class Wait { kRequest, kClose };

  bool process_and_close_socket(socket_t sock) override;
  Wait WaitForRequest(ConnStream& strm, int64_t idle_since_ms);
  void CloseListenerGently();
  void MarkDrainingResponse(httplib::Response& res);

  Options options_;
  int port_ = 0;
  int wake_fds_[2] = {-1, -1};  // written once when the drain starts
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> drain_start_ms_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> connections_{0};
};

// Monotonic milliseconds, for logs and deadlines.
int64_t MonotonicMs();

}  // namespace bgctl

#endif  // BGCTL_BACKEND_SAMPLE_SERVER_H_
