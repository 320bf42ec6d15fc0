#include "controller/sequential_judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace bgctl {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// A step's last partial CPU span is judged when at least this long (the
// rollout samples CPU over 500 ms).
constexpr int64_t kMinCpuSpanMs = 1000;
// The null shares of the latency tests.
constexpr double kSlowerShare = 1 - SequentialJudge::kLatencyQuantile / 100;
constexpr double kP99Share = 0.01;

bool Comparative(int test) {
  return test == SequentialJudge::kErrorsVsStable ||
         test == SequentialJudge::kLatencyVsStable;
}

double LogBfOf(int64_t s, int64_t n, double theta0) {
  if (n == 0) return 0;
  return LogOneSidedBF(s, n - s, theta0, SequentialJudge::kPriorStrength);
}

// The same for a test whose null does not change (its prior term cached).
double LogBfOf(int64_t s, int64_t n, double theta0, double log_prior) {
  if (n == 0) return 0;
  return LogOneSidedBF(s, n - s, theta0, SequentialJudge::kPriorStrength,
                       log_prior);
}

}  // namespace

const char* SequentialJudge::TestName(int test) {
  switch (test) {
    case kErrorsVsStable:
      return "errors_vs_stable";
    case kErrorRate:
      return "error_rate";
    case kLatencyVsStable:
      return "latency_vs_stable";
    default:
      break;
  }
  return "p99_limit";
}

SequentialJudge::SequentialJudge(const AnalysisConfig& cfg,
                                 const JudgeSetup& setup)
    : CanaryJudge(setup.stable_port, setup.canary_port),
      cfg_(cfg),
      steps_(setup.steps) {
  for (TestState& t : tests_) t.bet = SequentialBet(cfg.alpha / kTests);
  tests_[kErrorRate].theta0 = cfg.max_error_rate;
  tests_[kLatencyVsStable].theta0 = kSlowerShare;
  tests_[kP99Limit].theta0 = kP99Share;
  for (int i : {kErrorRate, kLatencyVsStable, kP99Limit}) {
    const double r = tests_[i].theta0;
    if (r > 0 && r < 1)
      tests_[i].log_prior = LogOneSidedPrior(r, kPriorStrength);
  }
  if (setup.resume.is_object()) Restore(setup.resume);
}

void SequentialJudge::Restore(const nlohmann::json& resume) {
  if (resume.value("method", "") != "sequential") return;
  const nlohmann::json& budget = resume.value("budget", nlohmann::json());
  for (int i = 0; i < kTests; ++i) {
    if (!budget.is_object() || !budget.contains(TestName(i))) continue;
    const nlohmann::json& b = budget[TestName(i)];
    const nlohmann::json& wealth = b.value("log_wealth", nlohmann::json());
    tests_[i].bet.Restore(b.value("spent", 0.0),
                          wealth.is_number() ? wealth.get<double>() : -kInf);
  }
  if (resume.contains("steps") && resume["steps"].is_array())
    steps_done_ = resume["steps"];
  if (resume.contains("decisions") && resume["decisions"].is_array())
    decisions_ = resume["decisions"];
}

int SequentialJudge::StepsLeft(int test) const {
  auto analysed = [&](int i) {
    const StepConfig& s = steps_[i];
    return s.pause_ms > 0 && !s.pause_forever &&
           (!Comparative(test) || s.weight < 100);
  };
  const int n = static_cast<int>(steps_.size());
  if (step_index_ < 0 || step_index_ >= n || !analysed(step_index_)) return 0;
  int left = 0;
  for (int i = step_index_; i < n; ++i) left += analysed(i);
  return left;
}

void SequentialJudge::BeginStep(int step_index, int weight, int64_t now_ms) {
  if (in_step_)
    for (TestState& t : tests_) t.bet.EndStep();
  in_step_ = true;
  step_index_ = step_index;
  weight_ = weight;
  step_start_ms_ = cpu_span_start_ms_ = cpu_last_ms_ = last_now_ms_ = now_ms;
  next_evidence_ms_ = now_ms + std::max<int64_t>(cfg_.interval_ms, 1);
  traffic_.Clear();
  tau_ms_ = -1;
  tau_count_ = 0;
  pending_.clear();
  unjudged_latencies_ = 0;
  cpu_weighted_ = cpu_ms_ = 0;
  last_cpu_mean_ = -1;
  for (int i = 0; i < kTests; ++i) {
    TestState& t = tests_[i];
    t.successes = t.trials = 0;
    t.evaluated_successes = t.evaluated_trials = -1;
    t.log_bf = 0;
    t.log_bf_exact = false;
    t.above_bound = false;
    t.crossed_after_ms = -1;
    t.crossed_canary_requests = 0;
    t.bet.BeginStep(StepsLeft(i));
  }
}

void SequentialJudge::AddOutcome(const LineOutcome& o) {
  if (!in_step_) return;
  traffic_.Add(o);
  if (!o.slot[kCanary].ended) return;
  TestState& p99 = tests_[kP99Limit];
  p99.trials++;
  if (o.latency_ms > static_cast<double>(cfg_.max_p99_latency_ms))
    p99.successes++;
  TestState& slower = tests_[kLatencyVsStable];
  if (tau_ms_ >= 0) {
    slower.trials++;
    if (o.latency_ms > tau_ms_) slower.successes++;
  } else if (pending_.size() < kMaxPendingLatencies) {
    pending_.push_back(o.latency_ms);
  } else {
    unjudged_latencies_++;
  }
}

void SequentialJudge::RefreshThreshold() {
  const LatencyHistogram& stable = traffic_.slot[kStable].latency;
  // Stable's p90 moves slowly: recomputed when stable's count grew by 1/64
  // since the last time (a scan of the histogram's buckets costs ~0.3 us).
  const int64_t n = stable.count();
  if (n < kMinStableLatencies ||
      (tau_ms_ >= 0 && n - tau_count_ < tau_count_ / 64 + 1))
    return;
  tau_count_ = n;
  const double p90 = stable.Percentile(kLatencyQuantile);
  const Margin& m = cfg_.latency_margin;
  const bool first = tau_ms_ < 0;
  tau_ms_ = std::max(p90 * (1 + m.relative), p90 + m.absolute);
  if (!first) return;
  TestState& slower = tests_[kLatencyVsStable];
  for (double ms : pending_) {
    slower.trials++;
    if (ms > tau_ms_) slower.successes++;
  }
  pending_.clear();
}

// The error tests' counts come from the step's traffic.
void SequentialJudge::Count() {
  const SlotStats& c = traffic_.slot[kCanary];
  const SlotStats& s = traffic_.slot[kStable];
  tests_[kErrorRate].successes = c.errors_5xx;
  tests_[kErrorRate].trials = c.requests;
  TestState& vs = tests_[kErrorsVsStable];
  vs.successes = c.errors_5xx;
  vs.trials = s.requests > 0 ? c.errors_5xx + s.errors_5xx : 0;
}

// Evaluates a test when its counts changed: with a fixed null, more
// failures only lower the Bayes factor, so a crossing can happen only when
// successes grow. errors_vs_stable is re-evaluated at every new error with
// the canary's realized share at that moment, and held between errors (its
// trials are the errors; requests without an error are no evidence). The
// exact factor is computed only when its cheap upper bound could cross.
bool SequentialJudge::Evaluate(int test, int64_t now_ms) {
  TestState& t = tests_[test];
  const bool changed =
      t.successes != t.evaluated_successes ||
      (test == kErrorsVsStable && t.trials != t.evaluated_trials);
  if (changed) {
    if (test == kErrorsVsStable) {
      const SlotStats& c = traffic_.slot[kCanary];
      const double rho =
          static_cast<double>(c.requests) /
          static_cast<double>(c.requests + traffic_.slot[kStable].requests);
      t.theta0 = CanaryErrorShare(rho, 1 + cfg_.error_margin.relative);
    }
    t.evaluated_successes = t.successes;
    t.evaluated_trials = t.trials;
    t.log_bf_exact = false;
    t.above_bound = false;
    if (LogOneSidedBFUpperBound(t.successes, t.trials - t.successes,
                                t.theta0) >= t.bet.LogBfNeeded()) {
      t.log_bf = ExactLogBf(test, t.successes, t.trials);
      t.log_bf_exact = true;
      t.above_bound = t.bet.Update(t.log_bf);
    }
  }
  const bool crossed = t.above_bound && GateOpen(test);
  if (crossed && t.crossed_after_ms < 0) {
    t.crossed_after_ms = now_ms - step_start_ms_;
    t.crossed_canary_requests = traffic_.slot[kCanary].requests;
  }
  return crossed;
}

double SequentialJudge::ExactLogBf(int test, int64_t s, int64_t n) const {
  const TestState& t = tests_[test];
  return test == kErrorsVsStable ? LogBfOf(s, n, t.theta0)
                                 : LogBfOf(s, n, t.theta0, t.log_prior);
}

bool SequentialJudge::GateOpen(int test) const {
  if (test != kErrorsVsStable) return true;
  return traffic_.slot[kCanary].ErrorRate() -
             traffic_.slot[kStable].ErrorRate() >
         cfg_.error_margin.absolute;
}

bool SequentialJudge::CpuFails(int64_t now_ms, double cpu, bool step_end) {
  const double dt = static_cast<double>(now_ms - cpu_last_ms_);
  if (cpu >= 0 && dt > 0) {
    cpu_weighted_ += cpu * dt;
    cpu_ms_ += dt;
  }
  cpu_last_ms_ = now_ms;
  const int64_t span = now_ms - cpu_span_start_ms_;
  if (span < std::max<int64_t>(cfg_.interval_ms, 1) &&
      !(step_end && span >= kMinCpuSpanMs))
    return false;
  const double mean = cpu_ms_ > 0 ? cpu_weighted_ / cpu_ms_ : -1;
  cpu_span_start_ms_ = now_ms;
  cpu_weighted_ = cpu_ms_ = 0;
  if (mean >= 0) last_cpu_mean_ = mean;
  return mean > cfg_.max_cpu_percent;
}

Decision SequentialJudge::Update(int64_t now_ms, double canary_cpu_percent) {
  if (!in_step_) return {};
  last_now_ms_ = now_ms;
  RefreshThreshold();
  Count();
  for (int i = 0; i < kTests; ++i)
    if (Evaluate(i, now_ms)) return Reject(TestSummary(i), now_ms);
  if (CpuFails(now_ms, canary_cpu_percent, false)) {
    char reason[128];
    std::snprintf(reason, sizeof reason, "cpu %.1f%% > %g%% over %.1f s",
                  last_cpu_mean_, cfg_.max_cpu_percent,
                  static_cast<double>(cfg_.interval_ms) / 1000);
    return Reject(reason, now_ms);
  }
  if (now_ms >= next_evidence_ms_) {
    while (next_evidence_ms_ <= now_ms)
      next_evidence_ms_ += std::max<int64_t>(cfg_.interval_ms, 1);
    nlohmann::json tests = nlohmann::json::array();
    for (int i = 0; i < kTests; ++i)
      tests.push_back(
          {{"name", TestName(i)},
           {"evidence",
            std::min(tests_[i].bet.EvidenceWith(DisplayLogBf(i)), 1e300)},
           {"bound", tests_[i].bet.bound()}});
    events_.push_back({"evidence",
                       EvidenceLine(now_ms),
                       {{"step", step_index_},
                        {"weight", weight_},
                        {"elapsed_ms", now_ms - step_start_ms_},
                        {"canary_requests", traffic_.slot[kCanary].requests},
                        {"stable_requests", traffic_.slot[kStable].requests},
                        {"tests", tests}}});
  }
  return {};
}

Decision SequentialJudge::EndStep(int64_t now_ms, double canary_cpu_percent) {
  if (!in_step_) return {DecisionKind::kPass, "no step under way"};
  Decision d = Update(now_ms, canary_cpu_percent);
  if (d.kind == DecisionKind::kReject) return d;
  if (CpuFails(now_ms, -1, true)) {
    char reason[128];
    std::snprintf(reason, sizeof reason, "cpu %.1f%% > %g%% at the step's end",
                  last_cpu_mean_, cfg_.max_cpu_percent);
    return Reject(reason, now_ms);
  }
  // Evaluations were skipped while only failures came in, or while the
  // cheap bound stayed below the bound: the bets carry the exact factors
  // (lower than the bound: no crossing). errors_vs_stable holds its value
  // from its last error.
  for (int i = 0; i < kTests; ++i) tests_[i].bet.Update(DisplayLogBf(i));
  const StepConfig* step =
      step_index_ >= 0 && step_index_ < static_cast<int>(steps_.size())
          ? &steps_[step_index_]
          : nullptr;
  if (step != nullptr && step->pause_ms > 0 && !CouldHaveRejected()) {
    d = {DecisionKind::kNoData, NoDataReason()};
  } else {
    d = {DecisionKind::kPass,
         "no test reached its bound; closest: " + Closest()};
  }
  Decide(d, now_ms);
  RecordStep(d, now_ms);
  for (TestState& t : tests_) t.bet.EndStep();
  in_step_ = false;
  return d;
}

// Could a canary failing (or slow on) every request the step judged have
// reached a bound?
bool SequentialJudge::CouldHaveRejected() const {
  const SlotStats& c = traffic_.slot[kCanary];
  const SlotStats& s = traffic_.slot[kStable];
  if (s.requests > 0 && c.requests > 0) {
    const double rho = static_cast<double>(c.requests) /
                       static_cast<double>(c.requests + s.requests);
    const double theta0 = CanaryErrorShare(rho, 1 + cfg_.error_margin.relative);
    if (tests_[kErrorsVsStable].bet.WouldCross(
            LogBfOf(c.requests, c.requests + s.errors_5xx, theta0)) &&
        1 - s.ErrorRate() > cfg_.error_margin.absolute)
      return true;
  }
  for (int i : {kErrorRate, kLatencyVsStable, kP99Limit}) {
    const TestState& t = tests_[i];
    const int64_t n = i == kErrorRate ? c.requests : t.trials;
    if (t.bet.WouldCross(LogBfOf(n, n, t.theta0, t.log_prior))) return true;
  }
  return false;
}

// The fewest canary requests, all 5xx, with which the error-rate test
// would have crossed in this step.
int64_t SequentialJudge::RequestsNeeded() const {
  const TestState& t = tests_[kErrorRate];
  auto crosses = [&](int64_t n) {
    return t.bet.WouldCross(LogBfOf(n, n, t.theta0, t.log_prior));
  };
  int64_t hi = 1;
  while (!crosses(hi)) {
    if (hi > (int64_t{1} << 40)) return -1;
    hi *= 2;
  }
  int64_t lo = hi / 2;  // !crosses(lo) unless lo == 0
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (crosses(mid) ? hi : lo) = mid;
  }
  return hi;
}

std::string SequentialJudge::NoDataReason() const {
  const int64_t needed = RequestsNeeded();
  return std::to_string(traffic_.slot[kCanary].requests) +
         " canary requests: too few to reject even a canary failing every "
         "one (the error-rate test needs " +
         (needed < 0 ? std::string("more than any step gets")
                     : std::to_string(needed)) +
         ")";
}

Decision SequentialJudge::Reject(const std::string& reason, int64_t now_ms) {
  Decision d{DecisionKind::kReject, reason};
  Decide(d, now_ms);
  RecordStep(d, now_ms);
  for (TestState& t : tests_) t.bet.EndStep();
  in_step_ = false;
  return d;
}

void SequentialJudge::Decide(const Decision& d, int64_t now_ms) {
  decisions_.push_back({{"step", step_index_},
                        {"weight", weight_},
                        {"decision", DecisionName(d.kind)},
                        {"reason", d.reason},
                        {"after_ms", now_ms - step_start_ms_}});
}

void SequentialJudge::RecordStep(const Decision& d, int64_t now_ms) {
  nlohmann::json step = StepJson(now_ms);
  step["decision"] = DecisionName(d.kind);
  step["reason"] = d.reason;
  steps_done_.push_back(std::move(step));
}

std::vector<JudgeEvent> SequentialJudge::TakeEvents() {
  std::vector<JudgeEvent> out;
  out.swap(events_);
  return out;
}

std::string SequentialJudge::Describe(const AnalysisConfig& cfg,
                                      const std::vector<StepConfig>& steps) {
  JudgeSetup setup;
  setup.steps = steps;
  SequentialJudge probe(cfg, setup);
  int analysed = 0, first = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].pause_ms > 0 && !steps[i].pause_forever) {
      analysed++;
      if (first < 0) first = static_cast<int>(i);
    }
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "analysis: sequential, alpha %g per deploy (%g for each of %d "
                "tests), %d analysed step%s; tolerated: 5xx rate x%g and "
                "+%g, p90 latency x%g and +%g ms",
                cfg.alpha, cfg.alpha / kTests, kTests, analysed,
                analysed == 1 ? "" : "s", 1 + cfg.error_margin.relative,
                cfg.error_margin.absolute, 1 + cfg.latency_margin.relative,
                cfg.latency_margin.absolute);
  std::string out = line;
  if (first >= 0) {
    probe.BeginStep(first, steps[first].weight, 0);
    const int64_t needed = probe.RequestsNeeded();
    out += "; the first analysed step needs " +
           (needed < 0 ? std::string("more canary requests than any step gets")
                       : std::to_string(needed) + " canary requests") +
           " to be able to reject (fewer: on_no_data)";
  }
  return out;
}

JudgeLive SequentialJudge::Live() const {
  return {traffic_.slot[kCanary], traffic_.slot[kStable], step_start_ms_};
}

}  // namespace bgctl
