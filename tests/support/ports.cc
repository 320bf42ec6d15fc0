#include "tests/support/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace bgctl::testing {

namespace {

// `address`:port, false unless `address` is an IPv4 address in 127.0.0.0/8:
// tests never reach anything else.
bool Loopback(const std::string& address, int port, sockaddr_in* addr) {
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, address.c_str(), &addr->sin_addr) == 1 &&
         (ntohl(addr->sin_addr.s_addr) >> 24) == 127;
}

// Binds address:port (0: any) without SO_REUSEADDR, so a port with a
// TIME_WAIT connection counts as taken. Returns the bound port or -1.
int TryBind(const std::string& address, int port) {
  sockaddr_in addr;
  if (!Loopback(address, port, &addr)) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int result = -1;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    result = ntohs(addr.sin_port);
  }
  close(fd);
  return result;
}

// The lowest ephemeral port (32768 by default).
int EphemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  if (!(in >> low >> high) || low <= 0) return 32768;
  return low;
}

}  // namespace

int PickFreePort() { return PickFreePort("127.0.0.1"); }

int PickFreePort(const std::string& address) {
  sockaddr_in unused;
  if (!Loopback(address, 0, &unused)) return -1;
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 gen(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  int high = EphemeralLow() - 1;
  if (high > 10000) {
    std::uniform_int_distribution<int> pick(10000, high);
    for (int i = 0; i < 200; i++) {
      int port = pick(gen);
      if (given.count(port) == 0 && TryBind(address, port) == port) {
        given.insert(port);
        return port;
      }
    }
  }
  for (int i = 0; i < 50; i++) {  // fallback: let the kernel choose
    int port = TryBind(address, 0);
    if (port > 0 && given.insert(port).second) return port;
  }
  return -1;
}

bool WaitForPort(int port, int timeout_ms) {
  return WaitForPort("127.0.0.1", port, timeout_ms);
}

bool WaitForPort(const std::string& address, int port, int timeout_ms) {
  sockaddr_in addr;
  if (!Loopback(address, port, &addr)) return false;
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok =
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace bgctl::testing
