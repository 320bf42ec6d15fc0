#include "controller/judge.h"

#include "controller/sequential_judge.h"
#include "controller/window_judge.h"

namespace bgctl {

const char* DecisionName(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kPass:
      return "pass";
    case DecisionKind::kNoData:
      return "no_data";
    case DecisionKind::kReject:
      return "reject";
    case DecisionKind::kContinue:
      break;
  }
  return "continue";
}

void CanaryJudge::AddLine(std::string_view line) {
  LineOutcome o;
  if (!AttributeLine(line, stable_port_, canary_port_, &o)) {
    malformed_lines_++;
    return;
  }
  if (o.start_wall_ms > 0 && o.start_wall_ms < count_from_ms_) {
    started_before_++;
    return;
  }
  AddOutcome(o);
}

std::unique_ptr<CanaryJudge> MakeJudge(const AnalysisConfig& config,
                                       const JudgeSetup& setup) {
  if (config.method == AnalysisMethod::kWindows)
    return std::make_unique<WindowJudge>(config, setup);
  return std::make_unique<SequentialJudge>(config, setup);
}

std::string DescribeJudge(const AnalysisConfig& config,
                          const std::vector<StepConfig>& steps) {
  if (config.method == AnalysisMethod::kWindows)
    return "analysis: windows of " + std::to_string(config.interval_ms) +
           " ms, min_requests " + std::to_string(config.min_requests) +
           ", failure_limit " + std::to_string(config.failure_limit);
  return SequentialJudge::Describe(config, steps);
}

}  // namespace bgctl
