// Loopback ports for tests and benchmarks that run in parallel.
#ifndef BGCTL_TESTS_SUPPORT_PORTS_H_
#define BGCTL_TESTS_SUPPORT_PORTS_H_

#include <string>

namespace bgctl::testing {

// Returns a TCP port on 127.0.0.1 that was free a moment ago (nothing bound,
// no connection in TIME_WAIT), or -1 if none was found. The port is chosen at
// random *below* the kernel's ephemeral range (ip_local_port_range), so the
// outgoing connections of a parallel load test cannot take it as a source
// port before the process under test binds it; never the same port twice in
// one process. Another process can still bind it first: a test that sees
// "port in use" from its server may retry with a new port.
int PickFreePort();
// The same on `address`, one of 127.0.0.0/8 (a test host's own address,
// tests/support/test_hosts.h); -1 for any other address.
int PickFreePort(const std::string& address);

// Polls (every 10 ms) until a TCP connect to 127.0.0.1:port succeeds.
// Returns false if none did within timeout_ms. The probe connection is
// closed without sending a byte.
bool WaitForPort(int port, int timeout_ms);
// The same for `address`, one of 127.0.0.0/8 (false for any other). With
// timeout_ms 0 it tries once: "does anything listen there now?".
bool WaitForPort(const std::string& address, int port, int timeout_ms);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_PORTS_H_
