// RealHttpProbe against a tiny httplib server on a loopback port.
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "controller/env.h"
#include "tests/support/ports.h"

namespace bgctl {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An httplib server on 127.0.0.1 (a port the kernel picks), running in a
// thread until destruction. Handlers that wait should watch stopping().
class TestServer {
 public:
  httplib::Server& server() { return server_; }
  bool stopping() const { return stopping_; }

  // Binds and starts serving; false if binding failed.
  bool Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return false;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return server_.is_running();
  }
  int port() const { return port_; }

  ~TestServer() {
    stopping_ = true;
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

TEST_CASE("a probe returns any HTTP status with the body", "[http_probe]") {
  TestServer server;
  server.server().Get("/ok",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content("fine", "text/plain");
                      });
  server.server().Get("/bad",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.status = 503;
                        res.set_content("draining", "text/plain");
                      });
  REQUIRE(server.Start());
  HttpProbe* probe = RealHttpProbe();
  HttpResponse response;
  std::string err;
  REQUIRE(probe->Get("127.0.0.1", server.port(), "/ok", 1000, &response, &err));
  CHECK(response.status == 200);
  CHECK(response.body == "fine");
  REQUIRE(
      probe->Get("127.0.0.1", server.port(), "/bad", 1000, &response, &err));
  CHECK(response.status == 503);
  CHECK(response.body == "draining");
  REQUIRE(probe->Get("127.0.0.1", server.port(), "/missing", 1000, &response,
                     &err));
  CHECK(response.status == 404);
  CHECK(err.empty());
}

TEST_CASE("a probe to a port nobody listens on says Connection refused",
          "[http_probe]") {
  int port = testing::PickFreePort();
  REQUIRE(port > 0);
  HttpResponse response;
  std::string err;
  CHECK_FALSE(RealHttpProbe()->Get("127.0.0.1", port, "/healthz", 1000,
                                   &response, &err));
  CHECK(err == "GET http://127.0.0.1:" + std::to_string(port) +
                   "/healthz: Connection refused");
}

TEST_CASE("a probe gives up after its timeout", "[http_probe]") {
  TestServer server;
  TestServer* s = &server;
  server.server().Get(
      "/slow", [s](const httplib::Request&, httplib::Response& res) {
        int64_t end = NowMs() + 5000;
        while (!s->stopping() && NowMs() < end) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        res.set_content("late", "text/plain");
      });
  REQUIRE(server.Start());
  HttpResponse response;
  std::string err;
  int64_t start = NowMs();
  CHECK_FALSE(RealHttpProbe()->Get("127.0.0.1", server.port(), "/slow", 200,
                                   &response, &err));
  int64_t took = NowMs() - start;
  CHECK(err == "GET http://127.0.0.1:" + std::to_string(server.port()) +
                   "/slow: timed out after 200ms");
  CHECK(took >= 200);
  CHECK(took < 1000);
}

TEST_CASE("every probe opens a new connection and asks to close it",
          "[http_probe]") {
  TestServer server;
  std::mutex mu;
  std::set<int> client_ports;
  std::set<std::string> connection_headers;
  server.server().Get(
      "/healthz", [&](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard<std::mutex> lock(mu);
        client_ports.insert(req.remote_port);
        connection_headers.insert(req.get_header_value("Connection"));
        res.set_content("ok", "text/plain");
      });
  REQUIRE(server.Start());
  for (int i = 0; i < 3; ++i) {
    HttpResponse response;
    std::string err;
    REQUIRE(RealHttpProbe()->Get("127.0.0.1", server.port(), "/healthz", 1000,
                                 &response, &err));
    CHECK(response.status == 200);
  }
  std::lock_guard<std::mutex> lock(mu);
  CHECK(client_ports.size() == 3);
  CHECK(connection_headers == std::set<std::string>{"close"});
}

}  // namespace
}  // namespace bgctl
