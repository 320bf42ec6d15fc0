// A small in-process HTTP backend (cpp-httplib) on a free loopback port, for
// tests and benchmarks that need a server behind nginx but not
// backend-sample's process: it answers every GET and POST with `status` and
// its name as the body. Stopped and joined on destruction.
#ifndef BGCTL_TESTS_SUPPORT_HTTP_BACKEND_H_
#define BGCTL_TESTS_SUPPORT_HTTP_BACKEND_H_

#include <httplib.h>

#include <cstdint>
#include <string>
#include <thread>

namespace bgctl::testing {

class HttpBackend {
 public:
  explicit HttpBackend(const std::string& name, int status = 200);
  ~HttpBackend();
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
};

struct Reply {
  int status = 0;  // 0: no response
  std::string body;
};

// One request to 127.0.0.1:port over a new connection (2 s to connect, 5 s
// to read); method GET or POST.
Reply Fetch(int port, const std::string& path,
            const std::string& method = "GET");

// Asks nginx's generation probe (/__bgctl/generation on 127.0.0.1:port) `n`
// times in a row, each over a new connection; returns how many answers were
// not `generation`.
int WrongGenerations(int port, uint64_t generation, int n);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_HTTP_BACKEND_H_
