// `bgctl status --watch`: a live view of the service, redrawn in place on a
// terminal (weights as bars, per-slot requests/s, error rate and p99 read
// from nginx's access log with the judges' attribution rule (analysis.h),
// phase, step, elapsed, and the running evidence of the rollout's judge from
// state_dir/analysis.json), and one plain line per interval when stdout is
// not a terminal (CI logs).
#ifndef BGCTL_CONTROLLER_WATCH_H_
#define BGCTL_CONTROLLER_WATCH_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/analysis.h"
#include "controller/config.h"
#include "controller/env.h"
#include "controller/state.h"

namespace bgctl {

struct WatchFrame {
  State state;
  SlotStats blue, green;
  int64_t no_upstream = 0;     // requests that reached no backend
  int64_t other_upstream = 0;  // requests to a server that is neither slot
  int64_t interval_ms = 1000;
  int64_t elapsed_ms = 0;  // since the watch started
  // The rollout's analysis.json (analysis_file.h), or null: shown under the
  // slots.
  nlohmann::json analysis;
  // The terminal's width in columns: no line is longer than width - 1 (so
  // the terminal wraps none). Until it fits, a slot row drops the pid, then
  // the port, narrows the weight bar and the version's column, drops the
  // bar, then shortens the version; other lines break at a space, the rest
  // indented.
  int width = 80;
};

// The frame as text: several lines with bars for a terminal, or one line
// for a log. Pure; tests call it directly.
std::string RenderFrame(const WatchFrame& frame, const Config& config,
                        bool terminal);

// The width of the terminal on stdout (TIOCGWINSZ), else $COLUMNS, else 80.
int TerminalWidth();

// Redraws every `interval_ms` until SIGINT/SIGTERM, or `count` frames when
// count > 0. Returns the exit code.
int WatchStatus(const Config& config, Env env, int64_t interval_ms, int count);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_WATCH_H_
