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

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Binds 127.0.0.1:port (0: any) without SO_REUSEADDR, so a port with a
// TIME_WAIT connection counts as taken. Returns the bound port or -1.
int TryBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = Loopback(port);
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

int PickFreePort() {
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 gen(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  int high = EphemeralLow() - 1;
  if (high > 10000) {
    std::uniform_int_distribution<int> pick(10000, high);
    for (int i = 0; i < 200; i++) {
      int port = pick(gen);
      if (given.count(port) == 0 && TryBind(port) == port) {
        given.insert(port);
        return port;
      }
    }
  }
  for (int i = 0; i < 50; i++) {  // fallback: let the kernel choose
    int port = TryBind(0);
    if (port > 0 && given.insert(port).second) return port;
  }
  return -1;
}

bool WaitForPort(int port, int timeout_ms) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr = Loopback(port);
    bool ok =
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace bgctl::testing
