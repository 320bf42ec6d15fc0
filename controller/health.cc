#include "controller/health.h"

#include <algorithm>

namespace bgctl {

namespace {
const char kHealthHost[] = "127.0.0.1";

bool CheckHealthWithTimeout(Env env, const HealthConfig& cfg, int port,
                            int64_t timeout_ms, std::string* err) {
  HttpResponse response;
  if (!env.http->Get(kHealthHost, port, cfg.path, timeout_ms, &response, err)) {
    return false;
  }
  if (response.status >= 200 && response.status < 300) return true;
  *err = std::string("GET http://") + kHealthHost + ":" + std::to_string(port) +
         cfg.path + ": status " + std::to_string(response.status);
  return false;
}

}  // namespace

bool CheckHealthOnce(Env env, const HealthConfig& cfg, int port,
                     std::string* err) {
  return CheckHealthWithTimeout(env, cfg, port, cfg.timeout_ms, err);
}

HealthResult WaitHealthy(Env env, const HealthConfig& cfg, int port,
                         const std::function<bool()>& alive,
                         const volatile std::sig_atomic_t* stop_requested) {
  HealthResult result;
  const int64_t start = env.clock->NowMs();
  auto finish = [&](HealthOutcome outcome) {
    result.outcome = outcome;
    result.elapsed_ms = env.clock->NowMs() - start;
    return result;
  };
  int consecutive = 0;
  for (;;) {
    if (stop_requested != nullptr && *stop_requested != 0) {
      return finish(HealthOutcome::kCancelled);
    }
    if (!alive()) return finish(HealthOutcome::kExited);
    int64_t left = cfg.deadline_ms - (env.clock->NowMs() - start);
    if (left <= 0) return finish(HealthOutcome::kDeadline);
    ++result.checks;
    std::string err;
    if (CheckHealthWithTimeout(env, cfg, port, std::min(cfg.timeout_ms, left),
                               &err)) {
      if (++consecutive >= cfg.healthy_threshold) {
        return finish(HealthOutcome::kHealthy);
      }
    } else {
      consecutive = 0;
      result.last_error = err;
      if (!alive()) return finish(HealthOutcome::kExited);
    }
    left = cfg.deadline_ms - (env.clock->NowMs() - start);
    if (left > 0) env.clock->SleepMs(std::min(cfg.interval_ms, left));
  }
}

}  // namespace bgctl
