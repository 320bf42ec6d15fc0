// RealHttpProbe (env.h): one httplib::Client per call, keep-alive off, so
// every probe opens a new connection (a probe must never ride on a
// connection to an old nginx worker or an old backend).
//
// timeout_ms is applied as httplib's connection timeout and as its read and
// write timeouts (each bounds one wait on the socket). On loopback the
// connect is immediate, so a probe ends within about timeout_ms unless the
// server trickles its answer.
//
// Post works the same way. Errors read "GET http://HOST:PORT/PATH: REASON",
// REASON being the system's text for a refused or failed connect ("Connection
// refused"; learnt from a second, raw connect attempt made only after httplib's
// failed), "timed out after Nms", or httplib's error name.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "controller/env.h"
#include "controller/http_post.h"

namespace bgctl {

namespace {

// httplib reports a failed connect as Error::Connection without the reason
// (it reads SO_ERROR and drops it). To name it, connect once more with a raw
// non-blocking socket and return that connect's errno (0 if it worked this
// time, -1 if `host` is not a numeric address).
int ConnectErrno(const std::string& host, int port, int64_t timeout_ms) {
  sockaddr_storage addr = {};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v6);
  } else {
    return -1;
  }
  int fd =
      socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int result = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    result = errno;
    if (result == EINPROGRESS) {
      pollfd p = {fd, POLLOUT, 0};
      int wait = static_cast<int>(std::clamp<int64_t>(timeout_ms, 1, 1000));
      if (poll(&p, 1, wait) == 1) {
        socklen_t size = sizeof(result);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &size) != 0) {
          result = errno;
        }
      } else {
        result = ETIMEDOUT;
      }
    }
  }
  close(fd);
  return result;
}

std::string DescribeError(httplib::Error error, const std::string& host,
                          int port, int64_t elapsed_ms, int64_t timeout_ms) {
  switch (error) {
    case httplib::Error::Connection: {
      int e = ConnectErrno(host, port, timeout_ms);
      return e > 0 ? std::strerror(e) : "cannot connect";
    }
    case httplib::Error::ConnectionTimeout:
      return "connect timed out after " + std::to_string(timeout_ms) + "ms";
    case httplib::Error::Read:
      if (elapsed_ms >= timeout_ms) {
        return "timed out after " + std::to_string(timeout_ms) + "ms";
      }
      return "connection closed before a complete response";
    default:
      return httplib::to_string(error);
  }
}

class RealHttpProbeImpl : public HttpProbe, public HttpPoster {
 public:
  bool Get(const std::string& host, int port, const std::string& path,
           int64_t timeout_ms, HttpResponse* out, std::string* err) override {
    PostFailure ignored;
    return Send("GET", host, port, path, "", {}, timeout_ms, out, &ignored,
                err);
  }
  bool Post(const std::string& host, int port, const std::string& path,
            const std::string& body,
            const std::map<std::string, std::string>& headers,
            int64_t timeout_ms, HttpResponse* out, PostFailure* failure,
            std::string* err) override {
    return Send("POST", host, port, path, body, headers, timeout_ms, out,
                failure, err);
  }

 private:
  bool Send(const std::string& method, const std::string& host, int port,
            const std::string& path, const std::string& body,
            const std::map<std::string, std::string>& headers,
            int64_t timeout_ms, HttpResponse* out, PostFailure* failure,
            std::string* err) {
    std::string what =
        method + " http://" + host + ":" + std::to_string(port) + path + ": ";
    if (timeout_ms < 1) timeout_ms = 1;
    time_t sec = static_cast<time_t>(timeout_ms / 1000);
    time_t usec = static_cast<time_t>((timeout_ms % 1000) * 1000);
    auto start = std::chrono::steady_clock::now();
    try {
      httplib::Client client(host, port);
      client.set_keep_alive(false);
      client.set_connection_timeout(sec, usec);
      client.set_read_timeout(sec, usec);
      client.set_write_timeout(sec, usec);
      httplib::Headers sent(headers.begin(), headers.end());
      httplib::Result res =
          method == "POST" ? client.Post(path.c_str(), sent, body, "text/plain")
                           : client.Get(path.c_str());
      if (!res) {
        *failure = res.error() == httplib::Error::Connection ||
                           res.error() == httplib::Error::ConnectionTimeout
                       ? PostFailure::kNotSent
                       : PostFailure::kNoAnswer;
        int64_t elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
        *err =
            what + DescribeError(res.error(), host, port, elapsed, timeout_ms);
        return false;
      }
      out->status = res->status;
      out->body = res->body;
      out->headers.clear();
      for (const auto& [name, value] : res->headers) {
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(c));
        out->headers.emplace(lower, value);
      }
      return true;
    } catch (const std::exception& e) {
      *failure = PostFailure::kNoAnswer;
      *err = what + e.what();
      return false;
    }
  }
};

}  // namespace

namespace {
RealHttpProbeImpl* TheRealHttp() {
  static RealHttpProbeImpl* http = new RealHttpProbeImpl();
  return http;
}
}  // namespace

HttpProbe* RealHttpProbe() { return TheRealHttp(); }

HttpPoster* RealHttpPoster() { return TheRealHttp(); }

}  // namespace bgctl
