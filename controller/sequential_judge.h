// The sequential judge (rollout.analysis.method: sequential, the default):
// four one-sided sequential tests (sequential.h), updated on every tick
// with the lines the log holds, comparing the canary with stable over the
// same span (the current step, from its reload on):
//
//  errors_vs_stable  each 5xx (retries away included, analysis.h) comes from
//                    the canary with probability theta; with the canary's
//                    realized share rho of the step's requests, "no worse
//                    than stable by more than error_margin.relative" is
//                    theta <= CanaryErrorShare(rho, 1 + relative). A
//                    rejection also needs the canary's 5xx rate to be above
//                    stable's by more than error_margin.absolute.
//  error_rate        canary 5xx rate <= max_error_rate (each canary request a
//                    trial).
//  latency_vs_stable share of canary requests slower than
//                    tau = max(p90 * (1 + relative), p90 + absolute), p90
//                    being stable's running 90th percentile in the step,
//                    <= 10%. Judged once stable has 50 requests in the step
//                    (canary requests before that wait, up to 4096); p90 is
//                    recomputed whenever stable's count grew by 1/64.
//  p99_limit         share of canary requests slower than max_p99_latency
//                    <= 1%.
//
// alpha is split equally over the four tests; each test spends its share
// over the deploy's analysed steps (steps with a pause; weight < 100 for the
// two comparisons) as one SequentialBet, so the probability of rolling back
// a canary that is no worse than stable is at most alpha for the deploy.
// A step passes when its pause ends with no test at its bound; it is
// kNoData when even a canary failing (or slow on) every one of its requests
// would not have reached any bound. CPU (max_cpu_percent) is a measurement,
// not a sample: its mean over each `interval` above the limit rejects.
#ifndef BGCTL_CONTROLLER_SEQUENTIAL_JUDGE_H_
#define BGCTL_CONTROLLER_SEQUENTIAL_JUDGE_H_

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/analysis.h"
#include "controller/config.h"
#include "controller/judge.h"
#include "controller/sequential.h"

namespace bgctl {

class SequentialJudge : public CanaryJudge {
 public:
  enum Test { kErrorsVsStable, kErrorRate, kLatencyVsStable, kP99Limit };
  static constexpr int kTests = 4;
  // The concentration k of every test's Beta(k theta0, k (1 - theta0))
  // prior (tuned with bench/judgement).
  static constexpr double kPriorStrength = 3;
  static constexpr double kLatencyQuantile = 90;  // stable's p90
  static constexpr int kMinStableLatencies = 50;
  static constexpr size_t kMaxPendingLatencies = 4096;

  SequentialJudge(const AnalysisConfig& cfg, const JudgeSetup& setup);

  void BeginStep(int step_index, int weight, int64_t now_ms) override;
  void AddOutcome(const LineOutcome& outcome) override;
  Decision Update(int64_t now_ms, double canary_cpu_percent) override;
  Decision EndStep(int64_t now_ms, double canary_cpu_percent) override;
  std::vector<JudgeEvent> TakeEvents() override;
  std::string EvidenceTable() const override;
  // See analysis_file.h for the document; "budget" lets a later process of
  // the same deploy continue the alpha budget.
  nlohmann::json EvidenceJson() const override;
  JudgeLive Live() const override;

  // "errors_vs_stable", "error_rate", "latency_vs_stable", "p99_limit".
  static const char* TestName(int test);

  // DescribeJudge (judge.h) for this method.
  static std::string Describe(const AnalysisConfig& cfg,
                              const std::vector<StepConfig>& steps);

 private:
  struct TestState {
    SequentialBet bet;
    double theta0 = 0;      // the null: success probability <= theta0
    double log_prior = 0;   // LogOneSidedPrior(theta0) of a fixed null
    int64_t successes = 0;  // this step
    int64_t trials = 0;     // this step
    int64_t evaluated_successes = -1, evaluated_trials = -1;
    double log_bf = 0;  // at the last evaluation, if log_bf_exact
    bool log_bf_exact = false;
    bool above_bound = false;
    int64_t crossed_after_ms = -1;  // since the step began
    int64_t crossed_canary_requests = 0;
  };

  void Restore(const nlohmann::json& resume);
  int StepsLeft(int test) const;
  void RefreshThreshold();
  void Count();
  bool Evaluate(int test, int64_t now_ms);
  double ExactLogBf(int test, int64_t successes, int64_t trials) const;
  bool GateOpen(int test) const;
  bool CpuFails(int64_t now_ms, double cpu, bool step_end);
  bool CouldHaveRejected() const;
  int64_t RequestsNeeded() const;
  std::string NoDataReason() const;
  Decision Reject(const std::string& reason, int64_t now_ms);
  void Decide(const Decision& d, int64_t now_ms);
  void RecordStep(const Decision& d, int64_t now_ms);

  // Text and JSON (sequential_report.cc).
  double DisplayLogBf(int test) const;  // current, for humans and carries
  std::string TestSummary(int test) const;
  std::string Closest() const;
  std::string EvidenceLine(int64_t now_ms) const;
  nlohmann::json TestJson(int test) const;
  nlohmann::json StepJson(int64_t now_ms) const;
  std::string TableRows(const nlohmann::json& step) const;

  AnalysisConfig cfg_;
  std::vector<StepConfig> steps_;
  std::array<TestState, kTests> tests_;
  bool in_step_ = false;
  int step_index_ = -1;
  int weight_ = 0;
  int64_t step_start_ms_ = 0;
  int64_t last_now_ms_ = 0;
  TrafficStats traffic_;   // the current step
  double tau_ms_ = -1;     // latency threshold; < 0 until stable has enough
  int64_t tau_count_ = 0;  // stable latencies when tau was computed
  std::vector<double> pending_;  // canary latencies waiting for tau
  int64_t unjudged_latencies_ = 0;
  // CPU over the current interval.
  int64_t cpu_span_start_ms_ = 0, cpu_last_ms_ = 0;
  double cpu_weighted_ = 0, cpu_ms_ = 0, last_cpu_mean_ = -1;
  int64_t next_evidence_ms_ = 0;
  std::vector<JudgeEvent> events_;
  nlohmann::json steps_done_ = nlohmann::json::array();
  nlohmann::json decisions_ = nlohmann::json::array();
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SEQUENTIAL_JUDGE_H_
