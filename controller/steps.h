// A rollout's steps: the one rule for what a list of steps may be, used by
// bgctl.yaml (config.cc) and by `deploy --steps` alike.
#ifndef BGCTL_CONTROLLER_STEPS_H_
#define BGCTL_CONTROLLER_STEPS_H_

#include <string>
#include <vector>

#include "controller/config.h"

namespace bgctl {

// The problem with step `index` of `steps` (weights 1..100, each greater
// than the one before, the last one 100), or "" when it is fine:
//   "must be between 1 and 100"
//   "must be greater than the previous step's weight (10)"
//   "the last step must have weight 100 (got 50)"
std::string StepProblem(const std::vector<StepConfig>& steps, size_t index);

// Parses `deploy --steps`: comma-separated weights, each optionally followed
// by ":PAUSE" (a duration or "forever"); without one, the last step takes
// the pause of the configured last (100%) step, and an earlier step that of
// the configured step at the same position unless that one is the
// configured last step (then none). False with *err,
// e.g. `step 2 ("5"): must be greater than the previous step's weight (10)`
// or `step 1 (""): expected a weight (an integer 1-100)`.
bool ParseStepsFlag(const std::string& text, const RolloutConfig& configured,
                    std::vector<StepConfig>* steps, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_STEPS_H_
