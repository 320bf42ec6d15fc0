#include "controller/analysis.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "controller/access_log.h"

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

nlohmann::json SlotJson(const WindowStats& s) {
  return {{"requests", s.requests},
          {"errors_5xx", s.errors_5xx},
          {"retried_away", s.retried_away},
          {"error_rate", s.ErrorRate()},
          {"p50_ms", s.P50()},
          {"p95_ms", s.P95()},
          {"p99_ms", s.P99()}};
}

void CountRetry(WindowStats* s) {
  s->requests++;
  s->errors_5xx++;
  s->retried_away++;
}

}  // namespace

double WindowStats::ErrorRate() const {
  return requests > 0 ? static_cast<double>(errors_5xx) / requests : 0;
}

void WindowStats::Clear() {
  requests = 0;
  errors_5xx = 0;
  retried_away = 0;
  latency.Clear();
}

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

Verdict Judge(const WindowStats& canary, const WindowStats& stable,
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

Analyzer::Analyzer(const AnalysisConfig& cfg, int stable_port, int canary_port)
    : cfg_(cfg), stable_port_(stable_port), canary_port_(canary_port) {}

void Analyzer::StartWindow(int64_t now_ms) {
  open_ = true;
  start_ms_ = now_ms;
  canary_.Clear();
  stable_.Clear();
  no_upstream_ = 0;
  other_upstream_ = 0;
}

WindowStats* Analyzer::SlotOf(int port) {
  if (port == 0) return nullptr;
  if (port == canary_port_) return &canary_;
  if (port == stable_port_) return &stable_;
  return nullptr;
}

void Analyzer::AddLine(std::string_view line) {
  LogRecord r;
  if (!ParseLogLine(line, &r)) {
    malformed_lines_++;
    return;
  }
  if (!open_) {
    ignored_lines_++;
    return;
  }
  lines_++;
  const std::string_view last = LastUpstreamEntry(r.upstream_addr);
  const int last_port = UpstreamPort(last);
  if (last.data() != r.upstream_addr.data()) {  // retries: earlier entries
    UpstreamList list(
        r.upstream_addr.substr(0, last.data() - r.upstream_addr.data()));
    std::string_view entry;
    bool tried_stable = false, tried_canary = false;
    while (list.Next(&entry)) {
      const int port = UpstreamPort(entry);
      tried_stable |= port == stable_port_;
      tried_canary |= port == canary_port_;
    }
    if (tried_canary && last_port != canary_port_) CountRetry(&canary_);
    if (tried_stable && last_port != stable_port_) CountRetry(&stable_);
  }
  WindowStats* slot = SlotOf(last_port);
  if (slot == nullptr) {
    if (last_port == 0) {
      no_upstream_++;
      no_upstream_total_++;
    } else {
      other_upstream_++;
      other_upstream_total_++;
    }
    return;
  }
  int status = LastUpstreamStatus(r.upstream_status);
  if (status == 0) status = r.status;
  slot->requests++;
  if (status >= 500) slot->errors_5xx++;
  slot->latency.Add(r.request_time_s * 1000);
}

bool Analyzer::FailsNow() const {
  if (canary_.requests < std::max(cfg_.min_requests, 1)) return false;
  return canary_.ErrorRate() > cfg_.max_error_rate ||
         canary_.P99() > static_cast<double>(cfg_.max_p99_latency_ms);
}

bool Analyzer::Tick(int64_t now_ms, double canary_cpu_percent,
                    WindowResult* closed) {
  if (!open_) return false;
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

bool Analyzer::CloseAtStepEnd(int64_t now_ms, double canary_cpu_percent,
                              WindowResult* closed) {
  if (!open_) return false;
  bool judge = canary_.requests >= cfg_.min_requests;
  if (judge) CloseWindow(now_ms, canary_cpu_percent, false, closed);
  open_ = false;
  return judge;
}

void Analyzer::CloseWindow(int64_t now_ms, double cpu, bool early,
                           WindowResult* closed) {
  WindowResult r;
  r.index = next_index_++;
  r.start_ms = start_ms_;
  r.end_ms = now_ms;
  r.early = early;
  r.canary = canary_;
  r.stable = stable_;
  r.no_upstream = no_upstream_;
  r.other_upstream = other_upstream_;
  r.canary_cpu_percent = cpu < 0 ? -1 : cpu;
  r.verdict = Judge(canary_, stable_, cpu, cfg_);
  if (r.verdict.kind == VerdictKind::kFail) failed_windows_++;
  if (r.verdict.kind != VerdictKind::kNoData) last_verdict_index_ = r.index;
  if (closed != nullptr) *closed = r;
  windows_.push_back(std::move(r));
  if (windows_.size() > kMaxKeptWindows) windows_.erase(windows_.begin());
  StartWindow(now_ms);
}

std::string Analyzer::FormatTable() const {
  std::string out =
      "window  slot    requests  errors  error_rate  p99_ms  verdict\n";
  char row[160];
  for (const WindowResult& w : windows_) {
    const WindowStats* stats[] = {&w.canary, &w.stable};
    for (int i = 0; i < 2; ++i) {
      const WindowStats& s = *stats[i];
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

nlohmann::json Analyzer::ToJson() const {
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
                       {"canary", SlotJson(w.canary)},
                       {"stable", SlotJson(w.stable)}});
  }
  return {{"windows", windows},
          {"failed_windows", failed_windows_},
          {"malformed_lines", malformed_lines_},
          {"no_upstream", no_upstream_total_},
          {"other_upstream", other_upstream_total_}};
}

}  // namespace bgctl
