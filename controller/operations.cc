// The operator's transitions of a rollout: set-weight, abort and the
// keep_previous timer. The rollout loop (deploy, promote, rollback) is in
// rollout.cc. Every
// failure is reported through Refuse (or by the transition that failed).
#include "controller/duration.h"
#include "controller/health.h"
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
  if (!RequireRollout(ctx, *state, "abort", err)) return kExitFailed;
  std::string canary = state->canary_slot;
  HistoryEntry e = StartHistoryEntry(
      ctx, *state, NewDeployId(ctx), "abort", state->Slot(canary).version,
      state->stable_slot.empty() ? ""
                                 : state->Slot(state->stable_slot).version);
  e.ends = state->deploy_id;  // the deploy this abort ends
  // Confirmed even at 0%: the operator asks for certainty.
  if (!EndRollout(ctx, state, /*always_switch=*/true, err))
    return Refuse(ctx, kExitFailed, "cannot abort: " + *err, err);
  state->phase = Phase::kAborted;
  state->owner_pid = 0;
  state->last_error = "aborted by the operator";
  if (!Persist(ctx, state, err)) return kExitFailed;
  ctx->out->Event("aborted", "aborted: traffic on " +
                                 (state->stable_slot.empty()
                                      ? std::string("nothing (no stable yet)")
                                      : state->stable_slot) +
                                 ", canary stopped");
  e.outcome = "aborted";
  e.reason = state->last_error;
  e.reason_kind = "operator";
  e.ended_ms = ctx->env.clock->WallMs();
  RecordHistory(ctx, e);
  return kExitOk;
}

ExitCode RetirePrevious(RolloutContext* ctx, State* state, std::string* err) {
  const std::string& slot = state->previous_slot;
  if (slot.empty() || slot == state->stable_slot ||
      slot == state->canary_slot ||
      state->Slot(slot).instance.process.pid == 0) {
    ctx->out->Event("retire", "no previous instance to retire");
    return kExitOk;
  }
  if (ctx->env.clock->WallMs() < state->previous_expires_ms) {
    ctx->out->Event("retire", "previous instance kept until later");
    return kExitOk;
  }
  if (!StopSlot(ctx, state, slot, err)) return kExitFailed;
  return kExitOk;
}

}  // namespace bgctl
