#include "tests/support/http_backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace bgctl::testing {

HttpBackend::HttpBackend(const std::string& name, int status) {
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // Inherited by accepted sockets: without it, nginx's keep-alive
    // upstream connections stall ~40 ms per request (Nagle, delayed ACK).
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  server_.set_tcp_nodelay(true);
  server_.set_keep_alive_timeout(1);
  server_.set_keep_alive_max_count(1000);
  auto answer = [name, status](const httplib::Request&,
                               httplib::Response& res) {
    res.status = status;
    res.set_content(name, "text/plain");
  };
  server_.Get(".*", answer);
  server_.Post(".*", answer);
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

HttpBackend::~HttpBackend() {
  server_.stop();
  thread_.join();
}

Reply Fetch(int port, const std::string& path, const std::string& method) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  httplib::Result res = method == "POST"
                            ? client.Post(path.c_str(), "data", "text/plain")
                            : client.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

int WrongGenerations(int port, uint64_t generation, int n) {
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    Reply r = Fetch(port, "/__bgctl/generation");
    if (r.status != 200 || r.body != std::to_string(generation)) ++wrong;
  }
  return wrong;
}

}  // namespace bgctl::testing
