#include "controller/window_judge.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace bgctl {

namespace {

// The least stable p99 a ratio divides by. Below 10 ms a p99 on a shared
// host is scheduling noise (and nginx logs $request_time in whole ms), so
// a canary at 12 ms next to a stable side at 1 ms is not 12 times slower.
constexpr double kRatioFloorMs = 10.0;

// One decimal, without a trailing ".0": 612 -> "612", 500.4 -> "500.4".
std::string Trimmed(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0)
    s.resize(s.size() - 2);
  return s;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// A configured limit: three decimals when that is exact, else %g.
std::string Limit(double v) {
  if (std::fabs(v * 1000 - std::round(v * 1000)) < 1e-9) return Fixed(v, 3);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string VerdictText(const Verdict& v) {
  std::string text = VerdictName(v.kind);
  return v.reason.empty() ? text : text + " (" + v.reason + ")";
}

std::string DescribeWindow(const WindowResult& w) {
  char line[256];
  std::snprintf(line, sizeof line,
                "window %d: canary %lld req, %.1f%% 5xx, p99 %.0f ms; "
                "stable %lld req, p99 %.0f ms: %s",
                w.index, static_cast<long long>(w.canary.requests),
                100 * w.canary.ErrorRate(), w.canary.P99(),
                static_cast<long long>(w.stable.requests), w.stable.P99(),
                VerdictText(w.verdict).c_str());
  return line;
}

nlohmann::json WindowEventJson(const WindowResult& w) {
  return {{"window", w.index},
          {"canary_requests", w.canary.requests},
          {"canary_error_rate", w.canary.ErrorRate()},
          {"canary_p99_ms", w.canary.P99()},
          {"stable_requests", w.stable.requests},
          {"stable_p99_ms", w.stable.P99()},
          {"verdict", VerdictText(w.verdict)}};
}

}  // namespace

const char* VerdictName(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kPass:
      return "pass";
    case VerdictKind::kFail:
      return "fail";
    case VerdictKind::kNoData:
      break;
  }
  return "no_data";
}

Verdict JudgeWindow(const SlotStats& canary, const SlotStats& stable,
                    double canary_cpu_percent, const AnalysisConfig& cfg) {
  const int64_t min_requests = std::max(cfg.min_requests, 1);
  const bool enough = canary.requests >= min_requests;
  std::vector<std::string> fails, summary;
  if (enough) {
    const double rate = canary.ErrorRate();
    const std::string counts = " (" + std::to_string(canary.errors_5xx) + "/" +
                               std::to_string(canary.requests) + ")";
    if (rate > cfg.max_error_rate) {
      fails.push_back("error rate " + Fixed(rate, 3) + " > " +
                      Limit(cfg.max_error_rate) + counts);
    }
    summary.push_back("error rate " + Fixed(rate, 3) + counts);
    const double p99 = canary.P99();
    if (p99 > static_cast<double>(cfg.max_p99_latency_ms)) {
      fails.push_back("p99 " + Trimmed(p99) + "ms > " +
                      std::to_string(cfg.max_p99_latency_ms) + "ms");
    }
    summary.push_back("p99 " + Trimmed(p99) + "ms");
    if (stable.requests >= min_requests) {
      const double stable_p99 = stable.P99();
      const double ratio = p99 / std::max(stable_p99, kRatioFloorMs);
      if (ratio > cfg.max_latency_ratio) {
        fails.push_back("p99 ratio " + Fixed(ratio, 2) + " > " +
                        Fixed(cfg.max_latency_ratio, 2) + " (canary " +
                        Trimmed(p99) + "ms, stable " + Trimmed(stable_p99) +
                        "ms)");
      }
      summary.push_back("p99 ratio " + Fixed(ratio, 2));
    }
  }
  if (canary_cpu_percent >= 0) {
    if (canary_cpu_percent > cfg.max_cpu_percent) {
      fails.push_back("cpu " + Trimmed(canary_cpu_percent) + "% > " +
                      Trimmed(cfg.max_cpu_percent) + "%");
    }
    summary.push_back("cpu " + Trimmed(canary_cpu_percent) + "%");
  }
  if (!fails.empty()) return {VerdictKind::kFail, Join(fails, "; ")};
  if (!enough) {
    return {VerdictKind::kNoData, std::to_string(canary.requests) +
                                      " canary requests < min_requests " +
                                      std::to_string(min_requests)};
  }
  return {VerdictKind::kPass, Join(summary, ", ")};
}

WindowAnalyzer::WindowAnalyzer(const AnalysisConfig& cfg, int stable_port,
                               int canary_port)
    : cfg_(cfg), stable_port_(stable_port), canary_port_(canary_port) {}

void WindowAnalyzer::StartWindow(int64_t now_ms) {
  is_open_ = true;
  start_ms_ = now_ms;
  open_.Clear();
}

void WindowAnalyzer::AddLine(std::string_view line) {
  LineOutcome o;
  if (!AttributeLine(line, stable_port_, canary_port_, &o)) {
    malformed_lines_++;
    return;
  }
  AddOutcome(o);
}

void WindowAnalyzer::AddOutcome(const LineOutcome& o) {
  if (!is_open_) {
    ignored_lines_++;
    return;
  }
  lines_++;
  open_.Add(o);
  if (o.no_upstream) no_upstream_total_++;
  if (o.other_upstream) other_upstream_total_++;
}

bool WindowAnalyzer::FailsNow() const {
  const SlotStats& canary = open_.slot[kCanary];
  if (canary.requests < std::max(cfg_.min_requests, 1)) return false;
  return canary.ErrorRate() > cfg_.max_error_rate ||
         canary.P99() > static_cast<double>(cfg_.max_p99_latency_ms);
}

bool WindowAnalyzer::Tick(int64_t now_ms, double canary_cpu_percent,
                          WindowResult* closed) {
  if (!is_open_) return false;
  // At least 1 ms, so `while (Tick(now, ...))` always ends.
  if (now_ms - start_ms_ >= std::max<int64_t>(cfg_.interval_ms, 1)) {
    CloseWindow(now_ms, canary_cpu_percent, false, closed);
    return true;
  }
  if (FailsNow()) {
    CloseWindow(now_ms, canary_cpu_percent, true, closed);
    return true;
  }
  return false;
}

bool WindowAnalyzer::CloseAtStepEnd(int64_t now_ms, double canary_cpu_percent,
                                    WindowResult* closed) {
  if (!is_open_) return false;
  bool judge = open_.slot[kCanary].requests >= cfg_.min_requests;
  if (judge) CloseWindow(now_ms, canary_cpu_percent, false, closed);
  is_open_ = false;
  return judge;
}

void WindowAnalyzer::CloseWindow(int64_t now_ms, double cpu, bool early,
                                 WindowResult* closed) {
  WindowResult r;
  r.index = next_index_++;
  r.start_ms = start_ms_;
  r.end_ms = now_ms;
  r.early = early;
  r.canary = open_.slot[kCanary];
  r.stable = open_.slot[kStable];
  r.no_upstream = open_.no_upstream;
  r.other_upstream = open_.other_upstream;
  r.canary_cpu_percent = cpu < 0 ? -1 : cpu;
  r.verdict = JudgeWindow(r.canary, r.stable, cpu, cfg_);
  if (r.verdict.kind == VerdictKind::kFail) failed_windows_++;
  if (r.verdict.kind != VerdictKind::kNoData) last_verdict_index_ = r.index;
  if (closed != nullptr) *closed = r;
  windows_.push_back(std::move(r));
  if (windows_.size() > kMaxKeptWindows) windows_.erase(windows_.begin());
  StartWindow(now_ms);
}

std::string WindowAnalyzer::FormatTable() const {
  std::string out =
      "window  slot    requests  errors  error_rate  p99_ms  verdict\n";
  char row[160];
  for (const WindowResult& w : windows_) {
    const SlotStats* stats[] = {&w.canary, &w.stable};
    for (int i = 0; i < 2; ++i) {
      const SlotStats& s = *stats[i];
      std::snprintf(row, sizeof(row),
                    "%-6d  %-6s  %8" PRId64 "  %6" PRId64 "  %10.3f  %6.1f",
                    w.index, i == 0 ? "canary" : "stable", s.requests,
                    s.errors_5xx, s.ErrorRate(), s.P99());
      out += row;
      if (i == 0) {
        out += "  ";
        out += VerdictName(w.verdict.kind);
        if (w.early) out += " (early)";
        out += ": " + w.verdict.reason;
      }
      out += "\n";
    }
  }
  out += "no upstream: " + std::to_string(no_upstream_total_) +
         ", other upstream: " + std::to_string(other_upstream_total_) +
         ", malformed lines: " + std::to_string(malformed_lines_) + "\n";
  return out;
}

nlohmann::json WindowAnalyzer::ToJson() const {
  nlohmann::json windows = nlohmann::json::array();
  for (const WindowResult& w : windows_) {
    nlohmann::json cpu = nullptr;
    if (w.canary_cpu_percent >= 0) cpu = w.canary_cpu_percent;
    windows.push_back({{"index", w.index},
                       {"start_ms", w.start_ms},
                       {"end_ms", w.end_ms},
                       {"early", w.early},
                       {"verdict", VerdictName(w.verdict.kind)},
                       {"reason", w.verdict.reason},
                       {"canary_cpu_percent", cpu},
                       {"no_upstream", w.no_upstream},
                       {"other_upstream", w.other_upstream},
                       {"canary", w.canary.ToJson()},
                       {"stable", w.stable.ToJson()}});
  }
  return {{"windows", windows},
          {"failed_windows", failed_windows_},
          {"malformed_lines", malformed_lines_},
          {"no_upstream", no_upstream_total_},
          {"other_upstream", other_upstream_total_}};
}

WindowJudge::WindowJudge(const AnalysisConfig& cfg, const JudgeSetup& setup)
    : CanaryJudge(setup.stable_port, setup.canary_port),
      cfg_(cfg),
      steps_(setup.steps),
      analyzer_(cfg, setup.stable_port, setup.canary_port) {}

void WindowJudge::BeginStep(int step_index, int weight, int64_t now_ms) {
  step_index_ = step_index;
  weight_ = weight;
  step_start_ms_ = now_ms;
  in_step_ = true;
  analyzer_.StartWindow(now_ms);
  step_first_window_ = analyzer_.next_window_index();
}

void WindowJudge::AddLine(std::string_view line) { analyzer_.AddLine(line); }

void WindowJudge::AddOutcome(const LineOutcome& outcome) {
  analyzer_.AddOutcome(outcome);
}

Decision WindowJudge::Update(int64_t now_ms, double canary_cpu_percent) {
  // A member: a WindowResult holds two 2.6 KB histograms, and this runs on
  // every tick.
  WindowResult& w = scratch_;
  while (analyzer_.Tick(now_ms, canary_cpu_percent, &w)) {
    if (!Report(w)) {
      Decide(Rejected(), now_ms);
      return Rejected();
    }
  }
  return {};
}

Decision WindowJudge::EndStep(int64_t now_ms, double canary_cpu_percent) {
  Decision d = Update(now_ms, canary_cpu_percent);
  if (d.kind == DecisionKind::kReject) return d;
  WindowResult& w = scratch_;
  if (analyzer_.CloseAtStepEnd(now_ms, canary_cpu_percent, &w) && !Report(w)) {
    d = Rejected();
  } else if (StepPause() > 0 &&
             !analyzer_.any_verdict_since(step_first_window_)) {
    d = {DecisionKind::kNoData, "fewer than " +
                                    std::to_string(cfg_.min_requests) +
                                    " canary requests in every window"};
  } else {
    d = {DecisionKind::kPass,
         std::to_string(analyzer_.next_window_index() - step_first_window_) +
             " windows, " + std::to_string(analyzer_.failed_windows()) +
             " failed in the rollout (limit " +
             std::to_string(cfg_.failure_limit) + ")"};
  }
  Decide(d, now_ms);
  return d;
}

int64_t WindowJudge::StepPause() const {
  if (step_index_ < 0 || step_index_ >= static_cast<int>(steps_.size()))
    return 0;
  return steps_[step_index_].pause_ms;
}

bool WindowJudge::Report(const WindowResult& w) {
  if (w.verdict.kind == VerdictKind::kFail) last_fail_ = w.verdict.reason;
  events_.push_back({"window", DescribeWindow(w), WindowEventJson(w)});
  return analyzer_.failed_windows() < cfg_.failure_limit;
}

Decision WindowJudge::Rejected() const {
  return {DecisionKind::kReject, std::to_string(analyzer_.failed_windows()) +
                                     " failed windows (limit " +
                                     std::to_string(cfg_.failure_limit) +
                                     "), last: " + last_fail_};
}

void WindowJudge::Decide(const Decision& d, int64_t now_ms) {
  decisions_.push_back({{"step", step_index_},
                        {"weight", weight_},
                        {"decision", DecisionName(d.kind)},
                        {"reason", d.reason},
                        {"after_ms", now_ms - step_start_ms_}});
  if (d.kind != DecisionKind::kContinue) in_step_ = false;
}

std::vector<JudgeEvent> WindowJudge::TakeEvents() {
  std::vector<JudgeEvent> out;
  out.swap(events_);
  return out;
}

std::string WindowJudge::EvidenceTable() const {
  if (analyzer_.windows().empty()) return "";
  return analyzer_.FormatTable();
}

nlohmann::json WindowJudge::EvidenceJson() const {
  nlohmann::json j = analyzer_.ToJson();
  j["method"] = "windows";
  j["step"] = nlohmann::json();
  if (in_step_)
    j["step"] = {{"index", step_index_},
                 {"weight", weight_},
                 {"in_progress", true},
                 {"window_start_ms", analyzer_.window_start_ms()},
                 {"canary", analyzer_.open_canary().ToJson()},
                 {"stable", analyzer_.open_stable().ToJson()}};
  j["decisions"] = decisions_;
  return j;
}

JudgeLive WindowJudge::Live() const {
  return {analyzer_.open_canary(), analyzer_.open_stable(),
          analyzer_.window_start_ms()};
}

}  // namespace bgctl
