// The canary judge: the one interface the rollout talks to while it holds
// a step. Two implementations, chosen in one place (MakeJudge) from
// rollout.analysis.method:
//   sequential (sequential_judge.h, the default): sequential tests against
//     stable whose false-rollback probability is at most `alpha` per deploy;
//   windows (window_judge.h): the fixed-window rule (min_requests,
//     failure_limit, limits per window).
// The rollout never knows which one it has.
//
// Protocol, per step of the plan: BeginStep when the step's reload starts;
// AddLine for every new access-log line; Update every tick (the rollout's is
// 20 ms) until the step's pause ends or a kReject; then EndStep. TakeEvents
// after each call gives the lines to print. Not thread-safe.
#ifndef BGCTL_CONTROLLER_JUDGE_H_
#define BGCTL_CONTROLLER_JUDGE_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/analysis.h"
#include "controller/config.h"

namespace bgctl {

enum class DecisionKind {
  kContinue,  // Update: no decision yet
  kPass,      // EndStep: the step ended with no rejection
  kNoData,    // EndStep: the step could not have rejected anything
  kReject,    // the canary is worse: roll back
};

// "continue", "pass", "no_data", "reject".
const char* DecisionName(DecisionKind kind);

struct Decision {
  DecisionKind kind = DecisionKind::kContinue;
  // kReject: why, e.g. "errors vs stable: evidence 412 >= 400 (...)";
  // kNoData: why not, e.g. "fewer than 50 canary requests in every window";
  // kPass: a one-line summary.
  std::string reason;
};

// A line for the rollout to print: Reporter::Event(kind, message, fields).
struct JudgeEvent {
  std::string kind;  // "window", "evidence", "decision"
  std::string message;
  nlohmann::json fields = nlohmann::json::object();
};

// The current span's traffic, for the live view.
struct JudgeLive {
  SlotStats canary;
  SlotStats stable;
  int64_t span_start_ms = 0;  // when the counted span began
};

// What the judge knows of the rollout it judges.
struct JudgeSetup {
  int stable_port = 0;
  int canary_port = 0;
  // The plan; step_index of BeginStep indexes it.
  std::vector<StepConfig> steps;
  // EvidenceJson() of an earlier bgctl process of the same deploy (promote
  // after a pause or an interruption), or null: the judge continues the
  // deploy's alpha budget from it.
  nlohmann::json resume;
};

class CanaryJudge {
 public:
  CanaryJudge(int stable_port, int canary_port)
      : stable_port_(stable_port), canary_port_(canary_port) {}
  virtual ~CanaryJudge() = default;

  // A step starts at now_ms (the moment its reload begins): what was
  // counted before is not part of it.
  virtual void BeginStep(int step_index, int weight, int64_t now_ms) = 0;

  // Parses and attributes one access-log line (analysis.h) and adds it
  // with AddOutcome; a malformed line is counted and otherwise ignored, and
  // so is a request that started before CountFrom's time.
  virtual void AddLine(std::string_view line);
  // From now on AddLine skips (and counts in started_before()) requests
  // that started before `wall_ms` (wall-clock ms): what started under the
  // previous step's split, or went to the process that held the canary's
  // port before it, is not the step's, whenever it ends. 0: no bound.
  void CountFrom(int64_t wall_ms) { count_from_ms_ = wall_ms; }
  int64_t started_before() const { return started_before_; }
  // Adds one attributed request (slot[kStable], slot[kCanary]); lines before
  // the first BeginStep are ignored.
  virtual void AddOutcome(const LineOutcome& outcome) = 0;

  // Judges what the step holds now. canary_cpu_percent is the canary's CPU
  // use over the caller's last sample (negative: unknown). kContinue or
  // kReject.
  virtual Decision Update(int64_t now_ms, double canary_cpu_percent) = 0;

  // The step's pause is over: kPass, kNoData or kReject. After it, lines
  // are ignored until the next BeginStep.
  virtual Decision EndStep(int64_t now_ms, double canary_cpu_percent) = 0;

  // Events since the last call, oldest first.
  virtual std::vector<JudgeEvent> TakeEvents() = 0;

  // The table printed on rollback (one row per window, or per test).
  virtual std::string EvidenceTable() const = 0;
  // Everything judged so far, with every decision; the contents of
  // state_dir/analysis.json (see analysis_file.h for the common members).
  virtual nlohmann::json EvidenceJson() const = 0;

  virtual JudgeLive Live() const = 0;

  int64_t malformed_lines() const { return malformed_lines_; }

 private:
  int stable_port_;
  int canary_port_;
  int64_t malformed_lines_ = 0;
  int64_t count_from_ms_ = 0;
  int64_t started_before_ = 0;
};

// The judge rollout.analysis.method names.
std::unique_ptr<CanaryJudge> MakeJudge(const AnalysisConfig& config,
                                       const JudgeSetup& setup);

// One line for `validate`: the method and what it will do with `steps`,
// e.g. "analysis: sequential, alpha 0.01 per deploy (0.0025 for each of 4
// tests), 2 analysed steps; ... a step needs 3 canary requests to be able
// to reject".
std::string DescribeJudge(const AnalysisConfig& config,
                          const std::vector<StepConfig>& steps);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_JUDGE_H_
