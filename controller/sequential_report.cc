// SequentialJudge's evidence as text (event lines, reasons, the rollback
// table) and as JSON (analysis.json, --output json).
#include <algorithm>
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>

#include "controller/sequential_judge.h"
#include "controller/text.h"

namespace bgctl {
namespace {

// JSON has no infinities.
double Finite(double v) { return std::clamp(v, -DBL_MAX, DBL_MAX); }

nlohmann::json OrNull(bool has, double v) {
  return has ? nlohmann::json(Finite(v)) : nlohmann::json();
}

const char* Label(int test) {
  switch (test) {
    case SequentialJudge::kErrorsVsStable:
      return "errors vs stable";
    case SequentialJudge::kErrorRate:
      return "error rate";
    case SequentialJudge::kLatencyVsStable:
      return "latency vs stable";
    default:
      break;
  }
  return "p99 limit";
}

long long Ll(int64_t v) { return static_cast<long long>(v); }

double Percent(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / whole : 0;
}

}  // namespace

double SequentialJudge::DisplayLogBf(int test) const {
  const TestState& t = tests_[test];
  // errors_vs_stable shows its value at its last error; the others now.
  const bool held = test == kErrorsVsStable;
  const int64_t s = held ? t.evaluated_successes : t.successes;
  const int64_t n = held ? t.evaluated_trials : t.trials;
  if (n <= 0) return 0;
  if (t.log_bf_exact && s == t.evaluated_successes && n == t.evaluated_trials)
    return t.log_bf;
  return ExactLogBf(test, s, n);
}

std::string SequentialJudge::TestSummary(int test) const {
  const TestState& t = tests_[test];
  const SlotStats& c = traffic_.slot[kCanary];
  const SlotStats& s = traffic_.slot[kStable];
  const bool crossed = t.crossed_after_ms >= 0;
  const std::string evidence = Format(
      "evidence %.3g %s %.3g", Finite(t.bet.EvidenceWith(DisplayLogBf(test))),
      crossed ? ">=" : "of", t.bet.bound());
  std::string what;
  switch (test) {
    case kErrorsVsStable:
      what = Format(
          "%lld of %lld 5xx from the canary (canary %.2f%% of %lld requests, "
          "stable %.2f%% of %lld; null: canary share of 5xx <= %.3f)",
          Ll(t.successes), Ll(t.trials), 100 * c.ErrorRate(), Ll(c.requests),
          100 * s.ErrorRate(), Ll(s.requests), t.theta0);
      break;
    case kErrorRate:
      what = Format("%lld of %lld canary requests 5xx (%.2f%%; null: <= %g)",
                    Ll(t.successes), Ll(t.trials),
                    Percent(t.successes, t.trials), t.theta0);
      break;
    case kLatencyVsStable:
      if (tau_ms_ < 0) {
        what = Format("not judged yet (stable has %lld of %d requests)",
                      Ll(s.latency.count()), kMinStableLatencies);
      } else {
        what = Format(
            "%lld of %lld canary requests slower than %.1f ms (stable p90 "
            "%.1f ms + margin; null: share <= %.2f)",
            Ll(t.successes), Ll(t.trials), tau_ms_,
            s.latency.Percentile(kLatencyQuantile), t.theta0);
      }
      break;
    default:
      what = Format(
          "%lld of %lld canary requests slower than %lld ms (null: share <= "
          "%.2f)",
          Ll(t.successes), Ll(t.trials), Ll(cfg_.max_p99_latency_ms), t.theta0);
      break;
  }
  return std::string(Label(test)) + ": " + what + ": " + evidence;
}

std::string SequentialJudge::Closest() const {
  int best = 0;
  double best_ratio = -1;
  for (int i = 0; i < kTests; ++i) {
    const double ratio =
        tests_[i].bet.EvidenceWith(DisplayLogBf(i)) / tests_[i].bet.bound();
    if (ratio > best_ratio) {
      best = i;
      best_ratio = ratio;
    }
  }
  return Format("%s %.3g of %.3g", Label(best),
                Finite(tests_[best].bet.EvidenceWith(DisplayLogBf(best))),
                tests_[best].bet.bound());
}

std::string SequentialJudge::EvidenceLine(int64_t now_ms) const {
  const SlotStats& c = traffic_.slot[kCanary];
  const SlotStats& s = traffic_.slot[kStable];
  std::string line = Format(
      "evidence at %d%% after %.1f s: canary %lld req, %lld 5xx; stable %lld "
      "req, %lld 5xx;",
      weight_, static_cast<double>(now_ms - step_start_ms_) / 1000,
      Ll(c.requests), Ll(c.errors_5xx), Ll(s.requests), Ll(s.errors_5xx));
  for (int i = 0; i < kTests; ++i)
    line += Format("%s %s %.3g", i ? "," : "", Label(i),
                   Finite(tests_[i].bet.EvidenceWith(DisplayLogBf(i))));
  return line + Format(" (bound %.3g each)", tests_[0].bet.bound());
}

nlohmann::json SequentialJudge::TestJson(int test) const {
  const TestState& t = tests_[test];
  const double log_bf = DisplayLogBf(test);
  const bool crossed = t.crossed_after_ms >= 0;
  return {
      {"name", TestName(test)},
      {"alpha", t.bet.alpha()},
      {"bound", t.bet.bound()},
      {"evidence", Finite(t.bet.EvidenceWith(log_bf))},
      {"log_bf", Finite(log_bf)},
      {"null", t.theta0},
      {"successes", t.successes},
      {"trials", t.trials},
      {"observed", OrNull(t.trials > 0, static_cast<double>(t.successes) /
                                            static_cast<double>(t.trials))},
      {"step_weight", t.bet.step_weight()},
      {"spent", t.bet.spent()},
      {"crossed", crossed},
      {"crossed_after_ms",
       crossed ? nlohmann::json(t.crossed_after_ms) : nlohmann::json()},
      {"crossed_canary_requests",
       crossed ? nlohmann::json(t.crossed_canary_requests) : nlohmann::json()},
      {"summary", TestSummary(test)}};
}

nlohmann::json SequentialJudge::StepJson(int64_t now_ms) const {
  const SlotStats& c = traffic_.slot[kCanary];
  const SlotStats& s = traffic_.slot[kStable];
  nlohmann::json tests = nlohmann::json::array();
  for (int i = 0; i < kTests; ++i) tests.push_back(TestJson(i));
  const int64_t total = c.requests + s.requests;
  return {{"index", step_index_},
          {"weight", weight_},
          {"in_progress", in_step_},
          {"elapsed_ms", now_ms - step_start_ms_},
          {"canary", c.ToJson()},
          {"stable", s.ToJson()},
          {"no_upstream", traffic_.no_upstream},
          {"other_upstream", traffic_.other_upstream},
          {"canary_share", OrNull(total > 0, static_cast<double>(c.requests) /
                                                 static_cast<double>(total))},
          {"latency_threshold_ms", OrNull(tau_ms_ >= 0, tau_ms_)},
          {"unjudged_latencies",
           unjudged_latencies_ + static_cast<int64_t>(pending_.size())},
          {"cpu_percent", OrNull(last_cpu_mean_ >= 0, last_cpu_mean_)},
          {"tests", tests}};
}

nlohmann::json SequentialJudge::EvidenceJson() const {
  nlohmann::json budget = nlohmann::json::object();
  for (int i = 0; i < kTests; ++i) {
    const SequentialBet& bet = tests_[i].bet;
    const double wealth = bet.LogWealthWith(DisplayLogBf(i));
    budget[TestName(i)] = {{"alpha", bet.alpha()},
                           {"spent", bet.spent()},
                           {"log_wealth", OrNull(wealth > -DBL_MAX, wealth)}};
  }
  return {{"method", "sequential"},
          {"alpha", cfg_.alpha},
          {"error_margin",
           {{"relative", cfg_.error_margin.relative},
            {"absolute", cfg_.error_margin.absolute}}},
          {"latency_margin",
           {{"relative", cfg_.latency_margin.relative},
            {"absolute_ms", cfg_.latency_margin.absolute}}},
          {"step", in_step_ ? StepJson(last_now_ms_) : nlohmann::json()},
          {"steps", steps_done_},
          {"decisions", decisions_},
          {"budget", budget},
          {"malformed_lines", malformed_lines()}};
}

std::string SequentialJudge::TableRows(const nlohmann::json& step) const {
  const nlohmann::json& c = step["canary"];
  const nlohmann::json& s = step["stable"];
  std::string out = Format(
      "step %d at %d%%: %s after %.1f s; canary %lld req (%lld 5xx, p90 "
      "%.0f ms), stable %lld req (%lld 5xx, p90 %.0f ms)",
      step.value("index", -1) + 1, step.value("weight", 0),
      step.value("decision", "running").c_str(),
      step.value("elapsed_ms", int64_t{0}) / 1000.0,
      Ll(c.value("requests", int64_t{0})),
      Ll(c.value("errors_5xx", int64_t{0})), c.value("p90_ms", 0.0),
      Ll(s.value("requests", int64_t{0})),
      Ll(s.value("errors_5xx", int64_t{0})), s.value("p90_ms", 0.0));
  const nlohmann::json& share = step["canary_share"];
  if (share.is_number())
    out += Format(", canary share %.3f", share.get<double>());
  out +=
      "\n  test               canary successes  null       evidence     bound"
      "  crossed\n";
  for (const nlohmann::json& t : step["tests"]) {
    const std::string name = t.value("name", "");
    int test = 0;
    while (test < kTests - 1 && name != TestName(test)) ++test;
    std::string crossed = "-";
    if (t["crossed_after_ms"].is_number())
      crossed = Format("after %.1f s (%lld canary req)",
                       t["crossed_after_ms"].get<int64_t>() / 1000.0,
                       Ll(t.value("crossed_canary_requests", int64_t{0})));
    out += Format("  %-17s  %8lld/%-8lld  <= %-6.3f %9.3g %9.3g  %s\n",
                  Label(test), Ll(t.value("successes", int64_t{0})),
                  Ll(t.value("trials", int64_t{0})), t.value("null", 0.0),
                  t.value("evidence", 0.0), t.value("bound", 0.0),
                  crossed.c_str());
  }
  const nlohmann::json& cpu = step["cpu_percent"];
  if (cpu.is_number())
    out += Format("  cpu %.1f%% (limit %g%%)\n", cpu.get<double>(),
                  cfg_.max_cpu_percent);
  return out;
}

std::string SequentialJudge::EvidenceTable() const {
  std::string out;
  for (const nlohmann::json& step : steps_done_) out += TableRows(step);
  if (in_step_) out += TableRows(StepJson(last_now_ms_));
  if (out.empty()) return "";
  return out +
         "successes: 5xx from the canary / all 5xx (errors vs stable), "
         "canary 5xx / requests (error rate), canary requests slower than "
         "the threshold / judged (latency tests)\n";
}

}  // namespace bgctl
