// The operator's transitions of a rollout: set-weight, abort and the
// keep_previous timer. The rollout loop (deploy, promote, rollback) is in
// rollout.cc. Every
// failure is reported through Refuse (or by the transition that failed).
#include "controller/duration.h"
#include "controller/health.h"
#include "controller/recovery.h"
#include "controller/rollout.h"

namespace bgctl {
namespace {

// Fails (reported) when no rollout is under way.
bool RequireRollout(RolloutContext* ctx, const State& state,
                    const std::string& command, std::string* err) {
  if (!state.canary_slot.empty()) return true;
  Refuse(ctx, kExitFailed,
         "no rollout under way (phase " + std::string(PhaseName(state.phase)) +
             "): nothing to " + command,
         err);
  return false;
}

}  // namespace

ExitCode SetWeight(RolloutContext* ctx, State* state, int weight,
                   std::string* err) {
  if (weight < 0 || weight > 100)
    return Refuse(ctx, kExitUsage,
                  "weight must be 0-100, got " + std::to_string(weight), err);
  if (!FinishEndedRollout(ctx, state, err)) return kExitFailed;
  if (!RequireRollout(ctx, *state, "set a weight for", err)) return kExitFailed;
  const SlotState& canary = state->Slot(state->canary_slot);
  if (weight > 0 && !ctx->runner->IsAlive(canary.instance))
    return Refuse(
        ctx, kExitFailed,
        "the canary " + canary.version + " is not running: use `bgctl abort`",
        err);
  if (state->stable_slot.empty() && weight < 100)
    return Refuse(ctx, kExitFailed,
                  "the first deploy has no stable version to share traffic "
                  "with",
                  err);
  if (SwitchTraffic(ctx, state, weight, err) != SwitchOutcome::kConfirmed)
    return Refuse(ctx, kExitFailed, *err, err);
  state->phase = Phase::kPaused;
  state->owner_pid = 0;
  if (!Persist(ctx, state, err)) return kExitFailed;
  ctx->out->Event("paused", "rollout paused at " + std::to_string(weight) +
                                "%: `bgctl promote` continues, `bgctl abort` "
                                "stops");
  return kExitOk;
}

ExitCode Abort(RolloutContext* ctx, State* state, std::string* err) {
  // An abort (or a rollback) that ended the rollout but did not stop its
  // canary, killed or refused by nginx: this abort finishes that one.
  if (!state->canary_slot.empty() && RolloutEnded(*state))
    return FinishEndedRollout(ctx, state, err) ? kExitOk : kExitFailed;
  if (!RequireRollout(ctx, *state, "abort", err)) return kExitFailed;
  HistoryEntry e = StartHistoryEntry(
      ctx, *state, NewDeployId(ctx), "abort",
      state->Slot(state->canary_slot).version,
      state->stable_slot.empty() ? ""
                                 : state->Slot(state->stable_slot).version);
  e.ends = state->deploy_id;  // the deploy this abort ends
  e.outcome = "aborted";
  e.reason = "aborted by the operator";
  e.reason_kind = "operator";
  e.ended_ms = e.started_ms;
  // The outcome first, with its history line: from here on the rollout is
  // over, and whatever stops this abort, the next command finishes it.
  state->phase = Phase::kAborted;
  state->owner_pid = 0;
  state->last_error = e.reason;
  state->pending_history = e;
  if (!Persist(ctx, state, err)) return kExitFailed;
  // Confirmed even at 0%: the operator asks for certainty.
  const bool ended = EndRollout(ctx, state, /*always_switch=*/true, err);
  std::string end_err = *err;
  e.ended_ms = ctx->env.clock->WallMs();
  state->pending_history = e;
  if (!CommitHistory(ctx, state, err)) return kExitFailed;
  if (!ended)
    return Refuse(ctx, kExitFailed,
                  "cannot abort: " + end_err +
                      "; the canary keeps running until the next command "
                      "can confirm the switch",
                  err);
  ctx->out->Event("aborted", "aborted: traffic on " +
                                 (state->stable_slot.empty()
                                      ? std::string("nothing (no stable yet)")
                                      : state->stable_slot) +
                                 ", canary stopped");
  return kExitOk;
}

ExitCode RetirePrevious(RolloutContext* ctx, State* state, std::string* err) {
  const std::string slot = OverduePrevious(ctx, *state);
  if (!slot.empty())
    return StopSlot(ctx, state, slot, err) ? kExitOk : kExitFailed;
  const std::string& kept = state->previous_slot;
  const bool kept_later = !kept.empty() && kept != state->stable_slot &&
                          kept != state->canary_slot &&
                          state->Slot(kept).instance.process.pid != 0;
  ctx->out->Event("retire", kept_later ? "previous instance kept until later"
                                       : "no previous instance to retire");
  return kExitOk;
}

}  // namespace bgctl
