// The rollout: every command that changes where traffic goes is a transition
// of the State in state.json, callable from a new bgctl process at any time.
// Preconditions for all of them: the caller holds the service's lock, and
// `state` was loaded from state.json (an abandoned rollout already marked
// interrupted). Each returns the command's exit code and leaves `state`
// saved; on failure *err holds the message (already reported).
#ifndef BGCTL_CONTROLLER_ROLLOUT_H_
#define BGCTL_CONTROLLER_ROLLOUT_H_

#include <string>
#include <vector>

#include "controller/exit_codes.h"
#include "controller/state.h"
#include "controller/transitions.h"

namespace bgctl {

// Starts `version` in the free slot, waits until healthy, runs pre_traffic,
// steps traffic through `steps` (the config's steps when empty) while
// analysing the canary, then promotes it and retires the old instance; or
// rolls back (kExitRolledBack). The first deploy goes to 100% once healthy.
// A step with `pause: forever` leaves the rollout paused (kExitOk).
ExitCode Deploy(RolloutContext* ctx, State* state, const std::string& version,
                const std::vector<StepConfig>& steps, std::string* err);

// Continues a paused or interrupted rollout with its remaining steps (with
// analysis); `full` goes to 100% at once.
ExitCode Promote(RolloutContext* ctx, State* state, bool full,
                 std::string* err);

// Puts `weight` percent on the canary of a rollout now (0: all to stable, the
// canary keeps running; 100 does not promote). The rollout is left paused.
ExitCode SetWeight(RolloutContext* ctx, State* state, int weight,
                   std::string* err);

// Stops a rollout: all traffic to stable (confirmed), canary stopped,
// phase aborted.
ExitCode Abort(RolloutContext* ctx, State* state, std::string* err);

// After a promotion: traffic back to the previous version, restarting it
// (and health-checking it) if it has exited; the demoted version is drained.
ExitCode Rollback(RolloutContext* ctx, State* state, std::string* err);

// Stops the previous instance kept alive by `rollout.keep_previous` once
// its time is up, if the state still names that same process as previous.
ExitCode RetirePrevious(RolloutContext* ctx, State* state, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ROLLOUT_H_
