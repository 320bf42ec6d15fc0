#include "controller/steps.h"

#include "controller/config_yaml.h"
#include "controller/duration.h"

namespace bgctl {

std::string StepProblem(const std::vector<StepConfig>& steps, size_t index) {
  const int weight = steps[index].weight;
  if (weight < 1 || weight > 100) return "must be between 1 and 100";
  if (index > 0 && weight <= steps[index - 1].weight)
    return "must be greater than the previous step's weight (" +
           std::to_string(steps[index - 1].weight) + ")";
  if (index + 1 == steps.size() && weight != 100)
    return "the last step must have weight 100 (got " + std::to_string(weight) +
           ")";
  return "";
}

bool ParseStepsFlag(const std::string& text, const RolloutConfig& configured,
                    std::vector<StepConfig>* steps, std::string* err) {
  steps->clear();
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    items.push_back(text.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    auto fail = [&](const std::string& problem) {
      *err =
          "step " + std::to_string(i + 1) + " (\"" + item + "\"): " + problem;
      return false;
    };
    StepConfig step;
    // The last step (100%) takes the configured last step's pause; an
    // earlier one that of the configured step at its position, unless that
    // is the configured last step.
    const size_t last = configured.steps.size();
    const size_t from = i + 1 == items.size() ? last - 1
                        : i + 1 < last        ? i
                                              : last;
    if (last > 0 && from < last) {
      step.pause_ms = configured.steps[from].pause_ms;
      step.pause_forever = configured.steps[from].pause_forever;
    }
    size_t colon = item.find(':');
    long long w = 0;
    if (!ParseInt(item.substr(0, colon), &w))
      return fail("expected a weight (an integer 1-100)");
    step.weight = w < 0 || w > 1000 ? 0 : static_cast<int>(w);
    if (colon != std::string::npos) {
      std::string pause = item.substr(colon + 1), derr;
      step.pause_forever = pause == "forever";
      step.pause_ms = 0;
      if (!step.pause_forever && !ParseDuration(pause, &step.pause_ms, &derr))
        return fail(derr);
    }
    steps->push_back(step);
    std::string problem = StepProblem(*steps, i);
    // The last-step rule applies only once the list is complete.
    if (!problem.empty() &&
        (i + 1 == items.size() || problem.rfind("the last step", 0) != 0))
      return fail(problem);
  }
  return true;
}

}  // namespace bgctl
