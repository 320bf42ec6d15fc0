// `bgctl status --watch`: a live view of the service, redrawn in place on a
// terminal (weights as bars, per-slot requests/s, error rate and p99 read
// from nginx's access log, phase, step, elapsed), and one plain line per
// interval when stdout is not a terminal (CI logs).
#ifndef BGCTL_CONTROLLER_WATCH_H_
#define BGCTL_CONTROLLER_WATCH_H_

#include <cstdint>
#include <string>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/histogram.h"
#include "controller/state.h"

namespace bgctl {

// Traffic one slot served during one interval.
struct SlotTraffic {
  int64_t requests = 0;
  int64_t errors_5xx = 0;
  LatencyHistogram latency;
};

struct WatchFrame {
  State state;
  SlotTraffic blue, green;
  int64_t no_upstream = 0;  // requests that reached no backend
  int64_t interval_ms = 1000;
  int64_t elapsed_ms = 0;  // since the watch started
};

// The frame as text: several lines with bars for a terminal, or one line
// for a log. Pure; tests call it directly.
std::string RenderFrame(const WatchFrame& frame, const Config& config,
                        bool terminal);

// Redraws every `interval_ms` until SIGINT/SIGTERM, or `count` frames when
// count > 0. Returns the exit code.
int WatchStatus(const Config& config, Env env, int64_t interval_ms, int count);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_WATCH_H_
