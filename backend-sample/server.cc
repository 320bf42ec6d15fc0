#include "backend-sample/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace bgctl {

int64_t MonotonicMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr int kTcpNewSynRecv =
    12;  // a request socket (kernel's TCP_NEW_SYN_RECV)

// Per request, on the thread that serves it: whether the response was (or
// will be) sent with "Connection: close".
thread_local bool t_close_passed = false;  // told to httplib up front
thread_local bool t_close_marked = false;  // added when the drain began late

// Runs each task on a thread of its own, up to max_threads at once; beyond
// that, tasks wait for a thread to finish. shutdown() returns when every
// task has run. The state is shared with the threads so that it outlives
// this object until the last thread has let go of it.
class ThreadPerTaskQueue : public httplib::TaskQueue {
 public:
  explicit ThreadPerTaskQueue(int max_threads)
      : state_(std::make_shared<State>()) {
    state_->max_threads = max_threads;
  }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->running >= state_->max_threads) {
      state_->pending.push_back(std::move(fn));
      return;
    }
    state_->running++;
    std::thread(&ThreadPerTaskQueue::Run, state_, std::move(fn)).detach();
  }

  void shutdown() override {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->cv.wait(lock, [this] {
      return state_->running == 0 && state_->pending.empty();
    });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> pending;
    int running = 0;
    int max_threads = 0;
  };

  static void Run(std::shared_ptr<State> state, std::function<void()> fn) {
    for (;;) {
      fn();
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->pending.empty()) {
        state->running--;
        state->cv.notify_all();
        return;
      }
      fn = std::move(state->pending.front());
      state->pending.pop_front();
    }
  }

  std::shared_ptr<State> state_;
};

// Makes the listening socket drop every incoming SYN (a classic BPF program
// on the TCP header: flags byte at offset 13, SYN = 0x02). Handshakes already
// under way still complete, so no accepted connection is ever reset; new
// clients retransmit their SYN and, once the listener is closed, are refused.
bool DropNewConnections(int listen_fd) {
  static sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFF),
  };
  sock_fprog prog = {static_cast<unsigned short>(std::size(code)), code};
  return setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
                    sizeof(prog)) == 0;
}

// Connections completed by the kernel and not yet accepted.
int AcceptQueueLength(int listen_fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return static_cast<int>(info.tcpi_unacked);
}

// Half-open handshakes (SYN_RECV) to the listening port, asked of the kernel
// with a sock_diag dump restricted to that state; -1 if the query failed.
int HalfOpenCount(int port) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } msg{};
  msg.header.nlmsg_len = sizeof(msg);
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.request.sdiag_family = AF_INET;
  msg.request.sdiag_protocol = IPPROTO_TCP;
  msg.request.idiag_states = (1u << TCP_SYN_RECV) | (1u << kTcpNewSynRecv);
  int count = send(fd, &msg, sizeof(msg), 0) == sizeof(msg) ? 0 : -1;
  alignas(nlmsghdr) char buf[16384];
  while (count >= 0) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) count = -1;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); n > 0 && NLMSG_OK(h, n);
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return count;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        count = -1;
        break;
      }
      auto* diag = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(diag->id.idiag_sport) == port) count++;
    }
  }
  close(fd);
  return -1;
}

}  // namespace

// httplib::Stream over one client socket, with a read buffer (httplib reads
// request lines a byte at a time) and blocking, complete writes.
class ConnStream : public httplib::Stream {
 public:
  ConnStream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd),
        read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms) {}

  bool has_buffered() const { return pos_ < len_; }

  bool is_readable() const override {
    return has_buffered() || PollFor(POLLIN, read_timeout_ms_);
  }
  bool is_writable() const override {
    return PollFor(POLLOUT, write_timeout_ms_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!has_buffered()) {
      if (!PollFor(POLLIN, read_timeout_ms_)) return -1;
      ssize_t n;
      do {
        n = recv(fd_, buf_, sizeof(buf_), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, len_ - pos_);
    memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // Writes all of ptr[0, size) or fails (-1): httplib writes the status line
  // and headers with one unchecked call.
  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      if (!PollFor(POLLOUT, write_timeout_ms_)) return -1;
      ssize_t n = send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  bool PollFor(short events, int timeout_ms) const {
    pollfd p = {fd_, events, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
  }

  void Address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip,
               int& port) const {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char text[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &addr.sin_addr, text, sizeof(text));
    ip = text;
    port = ntohs(addr.sin_port);
  }

  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  char buf_[4096];
  size_t pos_ = 0;
  size_t len_ = 0;
};

DrainingServer::DrainingServer(const Options& options) : options_(options) {
  if (pipe2(wake_fds_, O_CLOEXEC) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  int max_threads = options_.max_threads;
  new_task_queue = [max_threads] {
    return new ThreadPerTaskQueue(max_threads);
  };
  set_keep_alive_timeout(options_.keep_alive_timeout_s);
  set_keep_alive_max_count(options_.max_requests_per_connection);
  set_read_timeout(options_.read_timeout_ms / 1000,
                   (options_.read_timeout_ms % 1000) * 1000);
  set_write_timeout(options_.write_timeout_ms / 1000,
                    (options_.write_timeout_ms % 1000) * 1000);
  set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    fcntl(sock, F_SETFD, FD_CLOEXEC);
  });
  // Called by httplib just before it writes any response (handled or not).
  set_post_routing_handler(
      [this](const httplib::Request&, httplib::Response& res) {
        MarkDrainingResponse(res);
      });
}

DrainingServer::~DrainingServer() {
  for (int fd : wake_fds_) {
    if (fd >= 0) close(fd);
  }
}

bool DrainingServer::Bind(const std::string& host, int port, std::string* err) {
  errno = 0;
  if (!bind_to_port(host.c_str(), port)) {
    int saved = errno;
    *err = "cannot listen on " + host + ":" + std::to_string(port);
    if (saved != 0) *err += std::string(": ") + strerror(saved);
    return false;
  }
  port_ = port;
  // httplib listens with a backlog of 5; a burst of new connections would
  // overflow it and wait for SYN retransmits. listen() again only resizes.
  ::listen(svr_sock_.load(), 1024);
  return true;
}

bool DrainingServer::Serve() {
  listen_after_bind();
  return draining_.load();
}

void DrainingServer::MarkDrainingResponse(httplib::Response& res) {
  if (!t_close_passed && draining_.load()) {
    res.set_header("Connection", "close");
    res.headers.erase("Keep-Alive");
    t_close_marked = true;
  }
}

void DrainingServer::Drain() {
  if (draining_.exchange(true)) return;
  drain_start_ms_ = MonotonicMs();
  if (wake_fds_[1] >= 0) {
    char byte = 1;
    ssize_t ignored = ::write(wake_fds_[1], &byte, 1);
    (void)ignored;
  }
  CloseListenerGently();
}

void DrainingServer::CloseListenerGently() {
  // stop() does nothing until the accept loop runs.
  for (int i = 0; i < 1000 && !is_running(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int fd = svr_sock_.load();
  if (fd != INVALID_SOCKET && DropNewConnections(fd)) {
    // Wait until every handshake that got past the filter has completed and
    // been taken by the accept loop: closing the listener resets those.
    int64_t deadline = MonotonicMs() + 1000;
    int quiet_checks = 0;
    while (quiet_checks < 3 && MonotonicMs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      bool quiet = AcceptQueueLength(fd) == 0 && HalfOpenCount(port_) <= 0;
      quiet_checks = quiet ? quiet_checks + 1 : 0;
    }
  }
  stop();
}

DrainingServer::Wait DrainingServer::WaitForRequest(ConnStream& strm,
                                                    int64_t idle_since_ms) {
  const int fd = strm.socket();
  for (;;) {
    if (strm.has_buffered()) return Wait::kRequest;
    bool draining = draining_.load();
    int64_t deadline =
        draining ? std::max(drain_start_ms_.load(), idle_since_ms) +
                       options_.drain_idle_grace_ms
                 : idle_since_ms + options_.keep_alive_timeout_s * 1000LL;
    int64_t now = MonotonicMs();
    if (now >= deadline) return Wait::kClose;
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    int nfds = (draining || wake_fds_[0] < 0) ? 1 : 2;
    int r =
        poll(fds, nfds,
             static_cast<int>(std::min<int64_t>(deadline - now, 60 * 1000)));
    if (r < 0 && errno != EINTR) return Wait::kClose;
    if (r <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    // Readable: a request, or the client closed (EOF) or failed.
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Wait::kRequest;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return Wait::kClose;
  }
}

bool DrainingServer::process_and_close_socket(socket_t sock) {
  connections_++;
  // httplib writes headers and body separately; without this, Nagle holds
  // the body back until the client's delayed ACK (40 ms).
  int yes = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  ConnStream strm(sock, options_.read_timeout_ms, options_.write_timeout_ms);
  int64_t idle_since = MonotonicMs();
  for (int served = 1; WaitForRequest(strm, idle_since) == Wait::kRequest;
       served++) {
    in_flight_++;
    t_close_passed =
        draining_.load() || served >= options_.max_requests_per_connection;
    t_close_marked = false;
    bool closed_by_client = false;
    bool ok = process_request(strm, t_close_passed, closed_by_client, nullptr);
    in_flight_--;
    idle_since = MonotonicMs();
    if (!ok || closed_by_client || t_close_passed || t_close_marked) break;
  }
  // Lingering close: send FIN, then read until the client closes too, so
  // that bytes still arriving never make the kernel answer with a reset.
  shutdown(sock, SHUT_WR);
  int64_t deadline = MonotonicMs() + options_.linger_ms;
  char sink[4096];
  for (int64_t now = MonotonicMs(); now < deadline; now = MonotonicMs()) {
    pollfd p = {sock, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(deadline - now)) <= 0) break;
    ssize_t n = recv(sock, sink, sizeof(sink), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  close(sock);
  connections_--;
  return true;
}

}  // namespace bgctl
