// backend-sample's command line and HTTP handlers (CONTRACT.md, section
// backend-sample). main.cc owns the process lifecycle: signals, the drain
// deadline, the crash timer and the log lines.
#ifndef BGCTL_BACKEND_SAMPLE_APP_H_
#define BGCTL_BACKEND_SAMPLE_APP_H_

#include <cstdint>
#include <string>

namespace bgctl {

class DrainingServer;

struct BackendOptions {
  std::string host = "127.0.0.1";  // an IPv4 address in 127.0.0.0/8
  int port = 0;
  std::string version;
  int64_t drain_timeout_ms = 30000;
  double error_rate = 0.0;       // probability of a 500 on / and /work
  int64_t extra_latency_ms = 0;  // added to every non-health response
  bool unhealthy = false;        // /healthz always 503
  int64_t crash_after_ms = 0;    // exit 70 this long after start; 0 = never
};

enum class ParseOutcome { kRun, kHelp, kUsageError };

// Parses argv. kRun: *options is filled. kHelp: *message is the help text
// (print on stdout, exit 0). kUsageError: *message is one line naming the
// flag, e.g. `--error-rate: expected a number from 0 to 1, got "1.5"` or
// `The following arguments were not expected: --bogus` (exit 2).
ParseOutcome ParseBackendOptions(int argc, char** argv, BackendOptions* options,
                                 std::string* message);

// Registers GET/POST /, GET/POST /work and GET /healthz on *server, which
// must outlive the handlers. `slot` is the value of BGCTL_SLOT, or empty for
// a JSON null.
void RegisterHandlers(const BackendOptions& options, const std::string& slot,
                      DrainingServer* server);

}  // namespace bgctl

#endif  // BGCTL_BACKEND_SAMPLE_APP_H_
