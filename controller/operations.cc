// The operator's transitions of a rollout: set-weight, abort, rollback and
// the keep_previous timer. The deploy loop itself is in rollout.cc.
#include "controller/duration.h"
#include "controller/health.h"
#include "controller/rollout.h"

namespace bgctl {
namespace {

bool RequireRollout(const State& state, const std::string& command,
                    std::string* err) {
  if (!state.canary_slot.empty()) return true;
  *err = "no rollout under way (phase " + std::string(PhaseName(state.phase)) +
         "): nothing to " + command;
  return false;
}

}  // namespace

ExitCode SetWeight(RolloutContext* ctx, State* state, int weight,
                   std::string* err) {
  if (weight < 0 || weight > 100) {
    *err = "weight must be 0-100, got " + std::to_string(weight);
    return kExitUsage;
  }
  if (!RequireRollout(*state, "set a weight for", err)) return kExitFailed;
  const SlotState& canary = state->Slot(state->canary_slot);
  if (weight > 0 && !ctx->runner->IsAlive(canary.instance)) {
    *err =
        "the canary " + canary.version + " is not running: use `bgctl abort`";
    return kExitFailed;
  }
  if (state->stable_slot.empty() && weight < 100) {
    *err = "the first deploy has no stable version to share traffic with";
    return kExitFailed;
  }
  if (SwitchTraffic(ctx, state, weight, err) != SwitchOutcome::kConfirmed)
    return kExitFailed;
  state->phase = Phase::kPaused;
  state->owner_pid = 0;
  if (!Persist(ctx, state, err)) return kExitFailed;
  ctx->out->Event("paused", "rollout paused at " + std::to_string(weight) +
                                "%: `bgctl promote` continues, `bgctl abort` "
                                "stops");
  return kExitOk;
}

ExitCode Abort(RolloutContext* ctx, State* state, std::string* err) {
  if (!RequireRollout(*state, "abort", err)) return kExitFailed;
  std::string canary = state->canary_slot;
  HistoryEntry e = StartHistoryEntry(
      ctx, *state, NewDeployId(ctx), "abort", state->Slot(canary).version,
      state->stable_slot.empty() ? ""
                                 : state->Slot(state->stable_slot).version);
  if (!state->stable_slot.empty() &&
      SwitchTraffic(ctx, state, 0, err) != SwitchOutcome::kConfirmed)
    return kExitFailed;
  if (!StopSlot(ctx, state, canary, err)) return kExitFailed;
  state->canary_slot.clear();
  state->canary_weight = 0;
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
  e.ended_ms = ctx->env.clock->WallMs();
  RecordHistory(ctx, e);
  return kExitOk;
}

// Starts the previous version again in its slot and waits until healthy.
static bool RestartPrevious(RolloutContext* ctx, State* state,
                            std::string* err) {
  const std::string slot = state->previous_slot;
  if (!StartSlot(ctx, state, slot, state->previous_version, err)) return false;
  const Instance& instance = state->Slot(slot).instance;
  HealthResult r = WaitHealthy(
      ctx->env, ctx->config->backend.health, ctx->config->PortOf(slot),
      [&] { return ctx->runner->IsAlive(instance); }, ctx->stop_requested);
  if (r.outcome == HealthOutcome::kHealthy) {
    ctx->out->Event("healthy", state->previous_version + " healthy after " +
                                   std::to_string(r.elapsed_ms) + " ms");
    return true;
  }
  *err = "the previous version " + state->previous_version +
         " did not become healthy: " + r.last_error;
  std::string stop_err;
  StopSlot(ctx, state, slot, &stop_err);
  return false;
}

ExitCode Rollback(RolloutContext* ctx, State* state, std::string* err) {
  if (!state->canary_slot.empty()) {
    *err = "a rollout is under way: use `bgctl abort` to stop it";
    return kExitFailed;
  }
  // The previous version of the last promotion stays on record through a
  // later deploy that was rolled back or aborted; a rollback uses it up.
  if (state->previous_slot.empty() || state->previous_version.empty()) {
    *err = std::string("nothing to roll back to") +
           (state->phase == Phase::kRolledBack
                ? ": the last operation was already a rollback"
                : ": no promotion with a previous version on record");
    return kExitFailed;
  }
  std::string demoted = state->stable_slot;
  HistoryEntry e =
      StartHistoryEntry(ctx, *state, NewDeployId(ctx), "rollback",
                        state->previous_version, state->Slot(demoted).version);
  // While the previous instance lives, rollback is one confirmed reload.
  if (!ctx->runner->IsAlive(state->Slot(state->previous_slot).instance)) {
    state->Slot(state->previous_slot).instance = Instance();
    if (!RestartPrevious(ctx, state, err)) return kExitFailed;
  }
  state->Slot(state->previous_slot).version = state->previous_version;
  state->stable_slot = state->previous_slot;
  state->previous_slot.clear();
  state->previous_version.clear();
  if (SwitchTraffic(ctx, state, 0, err) != SwitchOutcome::kConfirmed) {
    state->previous_slot = state->stable_slot;
    state->previous_version = state->Slot(state->stable_slot).version;
    state->stable_slot = demoted;
    Persist(ctx, state, err);
    return kExitFailed;
  }
  state->phase = Phase::kRolledBack;
  state->last_error = "rolled back by the operator";
  std::string boot_err;
  if (!ctx->runner->SetBootSlot(state->stable_slot, &boot_err))
    ctx->out->Error("cannot make " + state->stable_slot +
                    " the slot that starts at boot: " + boot_err +
                    " (reported, not fatal)");
  if (!StopSlot(ctx, state, demoted, err)) return kExitFailed;
  ctx->out->Event("rolled_back", "rolled back to " +
                                     state->Slot(state->stable_slot).version +
                                     " (" + state->stable_slot + ")");
  e.outcome = "rolled_back";
  e.reason = state->last_error;
  e.ended_ms = ctx->env.clock->WallMs();
  RecordHistory(ctx, e);
  std::string hook_err;
  if (!RunHook(ctx, "on_rollback", ctx->config->hooks.on_rollback, *state,
               state->stable_slot, &hook_err))
    ctx->out->Error(hook_err + " (reported, not fatal)");
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
