// The fixed-window rule (rollout.analysis.method: windows): access-log lines
// (attributed by analysis.h) are gathered into time windows of `interval`,
// each window holding min_requests canary requests is judged against the
// thresholds of rollout.analysis, and failure_limit failed windows roll the
// canary back. This is bgctl's rule before the sequential judge, kept as is
// for those who want it.
#ifndef BGCTL_CONTROLLER_WINDOW_JUDGE_H_
#define BGCTL_CONTROLLER_WINDOW_JUDGE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/analysis.h"
#include "controller/config.h"
#include "controller/judge.h"

namespace bgctl {

enum class VerdictKind { kNoData, kPass, kFail };

// "no_data", "pass" or "fail".
const char* VerdictName(VerdictKind kind);

struct Verdict {
  VerdictKind kind = VerdictKind::kNoData;
  // Fail: every broken rule, joined by "; ", e.g.
  //   "error rate 0.300 > 0.010 (30/100); p99 612ms > 500ms"
  // Pass: a summary, e.g. "error rate 0.000 (0/120), p99 12ms, cpu 5%".
  // No data: "40 canary requests < min_requests 50".
  std::string reason;
};

// Judges one window. Rules, in this order (a value equal to its limit
// passes):
//  - cpu: canary_cpu_percent > max_cpu_percent fails. The CPU sample does
//    not depend on traffic, so this rule applies even when there are too
//    few requests (a canary spinning at 100% with no traffic is broken).
//    A negative canary_cpu_percent means "not measured" and is not judged.
//  - fewer than min_requests canary requests (and always with none, even
//    if min_requests is 0): no data (unless cpu failed);
//  - error rate > max_error_rate fails;
//  - canary p99 > max_p99_latency_ms fails;
//  - canary p99 / stable p99 > max_latency_ratio fails, judged only when
//    the stable side has at least min_requests requests. The stable p99 is
//    taken as at least 10 ms: below that, differences are scheduling noise
//    on a shared host ($request_time has millisecond resolution, too).
// Every failing rule is listed in the reason, cpu last.
Verdict JudgeWindow(const SlotStats& canary, const SlotStats& stable,
                    double canary_cpu_percent, const AnalysisConfig& cfg);

struct WindowResult {
  int index = 0;  // 0, 1, 2... in the order windows closed
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool early = false;  // closed before the interval by the fast path
  SlotStats canary;
  SlotStats stable;
  int64_t no_upstream = 0;
  int64_t other_upstream = 0;
  double canary_cpu_percent = -1;
  Verdict verdict;
};

// Windows over the access log for one rollout. The caller owns the clock:
// it passes the time to StartWindow and Tick, and feeds lines with AddLine.
// Not thread-safe.
class WindowAnalyzer {
 public:
  // At most this many closed windows are kept in windows(); older ones are
  // dropped (their counts stay in failed_windows() and any_verdict_since()).
  static constexpr size_t kMaxKeptWindows = 1000;

  WindowAnalyzer(const AnalysisConfig& cfg, int stable_port, int canary_port);

  // Begins a fresh window at now_ms. Whatever the open window held is
  // discarded unjudged (requests from before a weight change). Lines added
  // before the first StartWindow are discarded too (ignored_lines()).
  void StartWindow(int64_t now_ms);

  // Parses one access-log line and adds it to the open window. A line that
  // does not parse counts in malformed_lines() and is otherwise ignored.
  void AddLine(std::string_view line);
  // Adds one attributed line (slot[kStable], slot[kCanary]).
  void AddOutcome(const LineOutcome& outcome);

  // Closes and judges the open window, storing it in *closed and starting
  // the next one at now_ms, when either
  //  - interval_ms (at least 1) has passed since the window started
  //    (now_ms - start >= interval_ms), judged with everything it holds; or
  //  - the fast path: the window holds at least min_requests canary
  //    requests and already fails on error rate or absolute p99. This is the
  //    simple rule ("fails with what it has"), not "would fail however good
  //    the rest of the window is": with min_requests requests seen, that is
  //    evidence enough. Such a window has early = true and verdict kFail.
  // canary_cpu_percent is the canary's CPU use over the window, measured by
  // the caller (negative: unknown); it is judged at window close only, never
  // by the fast path. `closed` may be null. Returns false (and leaves
  // *closed alone) otherwise, including when no window is open.
  bool Tick(int64_t now_ms, double canary_cpu_percent, WindowResult* closed);

  // Closes and judges the open window now, whatever its age (the end of a
  // step shorter than the interval), when it holds at least min_requests
  // canary requests; a smaller window is discarded unjudged, as StartWindow
  // would. Returns true and fills *closed only when a window was judged.
  // No window is open afterwards.
  bool CloseAtStepEnd(int64_t now_ms, double canary_cpu_percent,
                      WindowResult* closed);

  // Closed windows with verdict kFail, in this analyzer's life.
  int failed_windows() const { return failed_windows_; }
  // The index the open (or next) window will get when it closes. Read it at
  // the start of a step, then ask any_verdict_since(that index) at its end.
  int next_window_index() const { return next_index_; }
  // True if a window with index >= `window_index` closed with kPass or kFail.
  bool any_verdict_since(int window_index) const {
    return last_verdict_index_ >= window_index;
  }
  // The last closed windows, oldest first (see kMaxKeptWindows).
  const std::vector<WindowResult>& windows() const { return windows_; }
  bool window_open() const { return is_open_; }
  int64_t window_start_ms() const { return start_ms_; }
  const SlotStats& open_canary() const { return open_.slot[kCanary]; }
  const SlotStats& open_stable() const { return open_.slot[kStable]; }

  int64_t lines() const { return lines_; }  // parsed lines, all windows
  int64_t malformed_lines() const { return malformed_lines_; }
  int64_t ignored_lines() const { return ignored_lines_; }
  int64_t no_upstream() const { return no_upstream_total_; }
  int64_t other_upstream() const { return other_upstream_total_; }

  // The table printed on rollback, one row per window and slot:
  //   window  slot    requests  errors  error_rate  p99_ms  verdict
  //   0       canary       120      36       0.300    12.0  fail: error rate
  //   ... 0       stable      1080       0       0.000    10.0
  // then one line: "no upstream: N, other upstream: N, malformed lines: N".
  std::string FormatTable() const;

  // {"windows": [{"index", "start_ms", "end_ms", "early", "verdict",
  //   "reason", "canary_cpu_percent" (null if unknown), "no_upstream",
  //   "other_upstream", "canary": SLOT, "stable": SLOT}],
  //  "failed_windows", "malformed_lines", "no_upstream", "other_upstream"}
  // where SLOT is SlotStats::ToJson().
  nlohmann::json ToJson() const;

 private:
  void CloseWindow(int64_t now_ms, double cpu, bool early,
                   WindowResult* closed);
  bool FailsNow() const;  // the fast-path test

  AnalysisConfig cfg_;
  int stable_port_;
  int canary_port_;
  bool is_open_ = false;
  int64_t start_ms_ = 0;
  TrafficStats open_;  // the open window
  int next_index_ = 0;
  int failed_windows_ = 0;
  int last_verdict_index_ = -1;
  std::vector<WindowResult> windows_;
  int64_t lines_ = 0;
  int64_t malformed_lines_ = 0;
  int64_t ignored_lines_ = 0;
  int64_t no_upstream_total_ = 0;
  int64_t other_upstream_total_ = 0;
};

// The window rule behind the CanaryJudge interface. Each step starts a
// fresh window; a closed window is a "window" event; failure_limit failed
// windows (over the whole rollout) reject; a step with a pause in which no
// window got a verdict is kNoData ("fewer than min_requests canary requests
// in every window").
class WindowJudge : public CanaryJudge {
 public:
  WindowJudge(const AnalysisConfig& cfg, const JudgeSetup& setup);

  void BeginStep(int step_index, int weight, int64_t now_ms) override;
  void AddLine(std::string_view line) override;  // the analyzer counts
  void AddOutcome(const LineOutcome& outcome) override;
  Decision Update(int64_t now_ms, double canary_cpu_percent) override;
  Decision EndStep(int64_t now_ms, double canary_cpu_percent) override;
  std::vector<JudgeEvent> TakeEvents() override;
  std::string EvidenceTable() const override;
  nlohmann::json EvidenceJson() const override;
  JudgeLive Live() const override;

  const WindowAnalyzer& analyzer() const { return analyzer_; }

 private:
  // Records a closed window; false once the failure limit is reached.
  bool Report(const WindowResult& w);
  Decision Rejected() const;
  int64_t StepPause() const;
  void Decide(const Decision& d, int64_t now_ms);

  AnalysisConfig cfg_;
  std::vector<StepConfig> steps_;
  WindowAnalyzer analyzer_;
  int step_index_ = -1;
  int weight_ = 0;
  bool in_step_ = false;
  int64_t step_start_ms_ = 0;
  int step_first_window_ = 0;
  std::string last_fail_;
  std::vector<JudgeEvent> events_;
  nlohmann::json decisions_ = nlohmann::json::array();
  WindowResult scratch_;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_WINDOW_JUDGE_H_
