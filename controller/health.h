// Waiting for a canary to become healthy, and single health checks during a
// rollout. Uses only the Env interfaces (Clock, HttpProbe, ProcessRunner),
// so tests drive it with fakes.
#ifndef BGCTL_CONTROLLER_HEALTH_H_
#define BGCTL_CONTROLLER_HEALTH_H_

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

enum class HealthOutcome {
  kHealthy,    // healthy_threshold consecutive 2xx answers
  kDeadline,   // not healthy when deadline_ms had passed
  kExited,     // the process is no longer alive
  kCancelled,  // *stop_requested became non-zero (SIGINT/SIGTERM to bgctl)
};

struct HealthResult {
  HealthOutcome outcome = HealthOutcome::kDeadline;
  int64_t elapsed_ms = 0;  // from the start of WaitHealthy to its return
  int checks = 0;          // health checks made
  std::string last_error;  // the last failed check's error ("" if none)
};

// Polls GET http://127.0.0.1:PORT + cfg.path until cfg.healthy_threshold
// consecutive checks answer 2xx (kHealthy), cfg.deadline_ms has passed
// (kDeadline), `alive()` says the instance no longer runs (kExited), or
// `stop_requested` (if not null) points to a non-zero value (kCancelled).
//
// The loop: stop requested? (kCancelled) is the process alive? (no: kExited)
// has the deadline passed? (yes: kDeadline) check once, with a timeout of
// cfg.timeout_ms or the time left before the deadline, whichever is smaller;
// a failure resets the count of consecutive successes and is followed at
// once by another liveness check; then sleep cfg.interval_ms (never past the
// deadline). So a process that dies is reported before the next sleep, and
// kDeadline comes exactly at the deadline when checks take no time.
HealthResult WaitHealthy(
    Env env, const HealthConfig& cfg, int port,
    const std::function<bool()>& alive,
    const volatile std::sig_atomic_t* stop_requested = nullptr);

// One check of GET http://127.0.0.1:PORT + cfg.path with cfg.timeout_ms.
// True on a 2xx answer. Otherwise false with *err, either the probe's error
// or "GET http://127.0.0.1:8082/healthz: status 503".
bool CheckHealthOnce(Env env, const HealthConfig& cfg, int port,
                     std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_HEALTH_H_
