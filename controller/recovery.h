// What a command does first about a bgctl that stopped in the middle of one
// (SIGKILL, a power cut) or could not finish (nginx down): every command
// that takes the lock calls RecoverOnOpen on the state it loaded, and every
// command that changes traffic calls FinishEndedRollout before its own work.
// Each function persists what it changes.
#ifndef BGCTL_CONTROLLER_RECOVERY_H_
#define BGCTL_CONTROLLER_RECOVERY_H_

#include <string>

#include "controller/state.h"
#include "controller/transitions.h"

namespace bgctl {

// True when `state` records an outcome rather than a rollout under way:
// any phase but progressing, paused and interrupted.
bool RolloutEnded(const State& state);

// A rollout that ended (an abort, a rollback after a bad canary) but still
// names its canary, because the bgctl that ended it was killed before it
// stopped it, or nginx did not confirm the switch back: all traffic to
// stable (confirmed; skipped when the state knows the canary has none),
// then the canary drained, stopped and forgotten. Says what it finishes.
// True when there is nothing to finish. False with *err (reported) when
// nginx does not confirm the switch: the canary keeps running.
bool FinishEndedRollout(RolloutContext* ctx, State* state, std::string* err);

// The slot of the previous version's instance (its pid still recorded) kept
// by keep_previous, when its time is up (or no time was ever set, as when a
// deploy was killed between its promotion and the retirement): "" when
// there is none to stop.
std::string OverduePrevious(RolloutContext* ctx, const State& state);

// What every command that takes the lock does first with the state it
// loaded (from state.json, under the lock), in this order:
//  - ReconcileInstances: processes started but never recorded are adopted;
//  - a rollout still progressing lost its owner: MarkInterrupted;
//  - state->pending_history that the command which saved it never appended
//    (it was killed) is appended, unless history.jsonl holds it already;
//  - an overdue previous instance (OverduePrevious; the keep_previous timer
//    was killed) is drained and stopped.
// False with *err (reported) only when the state cannot be saved or the
// previous instance cannot be stopped.
bool RecoverOnOpen(RolloutContext* ctx, State* state, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_RECOVERY_H_
