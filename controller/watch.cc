#include "controller/watch.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "controller/analysis_file.h"
#include "controller/exit_codes.h"
#include "controller/log_follower.h"

namespace bgctl {
namespace {

volatile std::sig_atomic_t g_watch_stop = 0;
void OnWatchStop(int) { g_watch_stop = 1; }

std::string Bar(int percent, int width) {
  int filled = (percent * width + 50) / 100;
  std::string bar = "[";
  for (int i = 0; i < width; ++i) bar += i < filled ? "#" : ".";
  return bar + "]";
}

int WeightOf(const State& s, const std::string& slot) {
  if (slot == s.canary_slot) return s.canary_weight;
  if (slot == s.stable_slot)
    return s.canary_slot.empty() ? 100 : 100 - s.canary_weight;
  return 0;
}

std::string Role(const State& s, const std::string& slot) {
  if (slot == s.canary_slot) return "canary";
  if (slot == s.stable_slot) return "stable";
  if (slot == s.previous_slot && s.Slot(slot).instance.process.pid)
    return "previous";
  return "-";
}

std::string SlotLine(const WatchFrame& f, const Config& cfg,
                     const std::string& slot, bool terminal) {
  const SlotStats& t = slot == "blue" ? f.blue : f.green;
  const SlotState& s = f.state.Slot(slot);
  double rps = 1000.0 * static_cast<double>(t.requests) /
               static_cast<double>(f.interval_ms);
  double err = t.requests ? 100.0 * static_cast<double>(t.errors_5xx) /
                                static_cast<double>(t.requests)
                          : 0;
  int weight = WeightOf(f.state, slot);
  char line[256];
  if (terminal) {
    std::snprintf(line, sizeof line,
                  "  %-5s %-7s %-12s port %-5d pid %-7d %s %3d%%  %7.1f req/s  "
                  "%5.1f%% 5xx  p99 %6.1f ms\n",
                  slot.c_str(), Role(f.state, slot).c_str(),
                  s.version.empty() ? "-" : s.version.c_str(), cfg.PortOf(slot),
                  s.instance.process.pid, Bar(weight, 20).c_str(), weight, rps,
                  err, t.latency.Percentile(99));
  } else {
    std::snprintf(line, sizeof line,
                  " %s=%s:%s:%d%%:%.1frps:%.1f%%5xx:p99=%.1fms", slot.c_str(),
                  Role(f.state, slot).c_str(),
                  s.version.empty() ? "-" : s.version.c_str(), weight, rps, err,
                  t.latency.Percentile(99));
  }
  return line;
}

// The judges' rule: the last $upstream_status, retries counted as failures
// of the slot retried away from.
void Count(const Config& cfg, std::string_view line, WatchFrame* frame) {
  LineOutcome o;
  if (!AttributeLine(line, cfg.blue_port, cfg.green_port, &o)) return;
  frame->blue.Add(o.slot[0], o.latency_ms);
  frame->green.Add(o.slot[1], o.latency_ms);
  if (o.no_upstream) frame->no_upstream++;
  if (o.other_upstream) frame->other_upstream++;
}

}  // namespace

std::string RenderFrame(const WatchFrame& f, const Config& cfg, bool terminal) {
  const State& s = f.state;
  std::string step = s.step_index >= 0 && s.step_count > 0
                         ? std::to_string(s.step_index + 1) + "/" +
                               std::to_string(s.step_count)
                         : "-";
  char head[256];
  std::snprintf(head, sizeof head, "%s  phase %s  step %s  generation %llu",
                cfg.service.c_str(), PhaseName(s.phase), step.c_str(),
                static_cast<unsigned long long>(s.generation));
  std::string elapsed = std::to_string(f.elapsed_ms / 1000) + "s";
  if (!terminal) {
    std::string analysis = AnalysisOneLine(f.analysis);
    return "[" + elapsed + "] " + head + SlotLine(f, cfg, "blue", false) +
           SlotLine(f, cfg, "green", false) +
           " no_upstream=" + std::to_string(f.no_upstream) +
           " other_upstream=" + std::to_string(f.other_upstream) +
           (analysis.empty() ? "" : " " + analysis) + "\n";
  }
  std::string out = std::string(head) + "  (" + elapsed + ")\n";
  out += SlotLine(f, cfg, "blue", true) + SlotLine(f, cfg, "green", true);
  if (f.no_upstream)
    out +=
        "  " + std::to_string(f.no_upstream) + " requests reached no backend\n";
  if (f.other_upstream)
    out += "  " + std::to_string(f.other_upstream) +
           " requests went to a server that is neither slot\n";
  out += AnalysisText(f.analysis);
  if (!s.last_error.empty()) out += "  last error: " + s.last_error + "\n";
  return out;
}

int WatchStatus(const Config& cfg, Env env, int64_t interval_ms, int count) {
  struct sigaction sa = {};
  sa.sa_handler = OnWatchStop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  bool terminal = isatty(STDOUT_FILENO);
  LogFollower follower;
  std::string err;
  if (!follower.Open(cfg.nginx.access_log, /*from_end=*/true, &err))
    std::fprintf(stderr, "bgctl: %s\n", err.c_str());
  int64_t start = env.clock->NowMs();
  for (int frames = 0; !g_watch_stop && (count <= 0 || frames < count);
       ++frames) {
    WatchFrame frame;
    frame.interval_ms = interval_ms;
    // Sleep in short slices so Ctrl-C is answered at once.
    int64_t until = env.clock->NowMs() + interval_ms;
    while (!g_watch_stop && env.clock->NowMs() < until)
      env.clock->SleepMs(std::min<int64_t>(50, until - env.clock->NowMs()));
    follower.Poll([&](std::string_view l) { Count(cfg, l, &frame); }, &err);
    if (!LoadState(env.fs, StatePath(cfg), &frame.state, &err)) {
      std::fprintf(stderr, "bgctl: %s\n", err.c_str());
      return kExitFailed;
    }
    if (OwnerGone(frame.state, env.processes))
      frame.state.phase = Phase::kInterrupted;
    if (!frame.state.canary_slot.empty())
      frame.analysis = ReadAnalysisOfDeploy(env.fs, AnalysisPath(cfg),
                                            frame.state.deploy_id);
    frame.elapsed_ms = env.clock->NowMs() - start;
    std::string text = RenderFrame(frame, cfg, terminal);
    // On a terminal: cursor home and clear, then the frame (redrawn in place).
    if (terminal) std::fputs("\033[H\033[2J", stdout);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace bgctl
