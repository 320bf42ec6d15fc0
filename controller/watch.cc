#include "controller/watch.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "controller/analysis_file.h"
#include "controller/exit_codes.h"
#include "controller/log_follower.h"
#include "controller/text.h"

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

// A slot row for a terminal, at most width - 1 columns: the optional parts
// go first (pid, port), then the bar narrows to 10 columns, the version's
// column to the version, the bar to 5 columns and goes, then the version is
// shortened ("~" marks the cut).
std::string TerminalRow(const std::string& slot, const std::string& role,
                        std::string version, const std::string& port,
                        const std::string& pid, int weight,
                        const std::string& numbers, int width) {
  const int limit = std::max(width - 1, 20);
  bool with_pid = true, with_port = true;
  int bar = 20, column = 12;
  for (;;) {
    std::string row = Format("  %-5s %-7s %-*s", slot.c_str(), role.c_str(),
                             column, version.c_str());
    if (with_port) row += " port " + port;
    if (with_pid) row += " pid " + pid;
    if (bar > 0) row += " " + Bar(weight, bar);
    row += Format(" %3d%%", weight) + numbers;
    const int over = static_cast<int>(row.size()) - limit;
    if (over <= 0) return row + "\n";
    const int length = static_cast<int>(version.size());
    if (with_pid) {
      with_pid = false;
    } else if (with_port) {
      with_port = false;
    } else if (bar > 10) {
      bar = std::max(10, bar - over);
    } else if (column > length) {
      column = std::max(length, column - over);
    } else if (bar > 5) {
      bar = std::max(5, bar - over);
    } else if (bar > 0) {
      bar = 0;
    } else if (length > 4) {
      version = version.substr(0, std::max(3, length - over - 1)) + "~";
      column = static_cast<int>(version.size());
    } else {
      return row.substr(0, static_cast<size_t>(limit)) + "\n";
    }
  }
}

// `text` with every line longer than width - 1 broken at its last space
// that fits (or cut there), the rest indented by 4: the terminal wraps no
// line, so a live view that moves the cursor up by its line count erases
// exactly itself.
std::string Wrapped(const std::string& text, int width) {
  const size_t limit = static_cast<size_t>(std::max(width - 1, 20));
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (line.size() > limit) {
      size_t cut = line.rfind(' ', limit);
      if (cut == std::string::npos || cut <= 4) cut = limit;
      out += line.substr(0, cut) + "\n";
      line = "    " + line.substr(line[cut] == ' ' ? cut + 1 : cut);
    }
    out += line + "\n";
    start = end + 1;
  }
  return out;
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
  const std::string version = s.version.empty() ? "-" : s.version;
  if (terminal)
    return TerminalRow(slot, Role(f.state, slot), version,
                       Format("%-5d", cfg.PortOf(slot)),
                       Format("%-7d", s.instance.process.pid), weight,
                       Format("  %7.1f req/s  %5.1f%% 5xx  p99 %6.1f ms", rps,
                              err, t.latency.Percentile(99)),
                       f.width);
  return Format(" %s=%s:%s:%d%%:%.1frps:%.1f%%5xx:p99=%.1fms", slot.c_str(),
                Role(f.state, slot).c_str(), version.c_str(), weight, rps, err,
                t.latency.Percentile(99));
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
  return Wrapped(out, f.width);
}

int TerminalWidth() {
  struct winsize ws = {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  const char* columns = std::getenv("COLUMNS");
  const int n = columns ? std::atoi(columns) : 0;
  return n > 0 ? n : 80;
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
    frame.width = TerminalWidth();  // read each frame: a resize takes effect
    std::string text = RenderFrame(frame, cfg, terminal);
    // On a terminal: cursor home and clear, then the frame (redrawn in place).
    if (terminal) std::fputs("\033[H\033[2J", stdout);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace bgctl
