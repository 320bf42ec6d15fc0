// The operator's transitions of a rollout: set-weight, abort, rollback and
// the keep_previous timer. The deploy loop itself is in rollout.cc. Every
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

void MakeBootSlot(RolloutContext* ctx, const std::string& slot) {
  std::string err;
  if (!ctx->runner->SetBootSlot(slot, &err))
    ctx->out->Error("cannot make " + slot + " the slot that starts at boot: " +
                    err + " (reported, not fatal)");
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
  e.ended_ms = ctx->env.clock->WallMs();
  RecordHistory(ctx, e);
  return kExitOk;
}

// Starts the previous version again in its slot and waits until healthy. A
// stop request (SIGINT/SIGTERM) during the wait stops it again.
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
  *err = r.outcome == HealthOutcome::kCancelled
             ? "rollback cancelled: bgctl received a stop signal while " +
                   state->previous_version + " was starting"
             : "the previous version " + state->previous_version +
                   " did not become healthy: " + r.last_error;
  std::string stop_err;
  StopSlot(ctx, state, slot, &stop_err);
  return false;
}

ExitCode Rollback(RolloutContext* ctx, State* state, std::string* err) {
  if (!state->canary_slot.empty())
    return Refuse(ctx, kExitFailed,
                  "a rollout is under way: use `bgctl abort` to stop it", err);
  // The previous version of the last promotion stays on record through a
  // later deploy that was rolled back or aborted; a rollback uses it up.
  if (state->previous_slot.empty() || state->previous_version.empty())
    return Refuse(ctx, kExitFailed,
                  std::string("nothing to roll back to") +
                      (state->phase == Phase::kRolledBack
                           ? ": the last operation was already a rollback"
                           : ": no promotion with a previous version on "
                             "record"),
                  err);
  std::string demoted = state->stable_slot;
  HistoryEntry e =
      StartHistoryEntry(ctx, *state, NewDeployId(ctx), "rollback",
                        state->previous_version, state->Slot(demoted).version);
  // While the previous instance lives, rollback is one confirmed switch.
  if (!ctx->runner->IsAlive(state->Slot(state->previous_slot).instance)) {
    state->Slot(state->previous_slot).instance = Instance();
    if (!RestartPrevious(ctx, state, err))
      return Refuse(ctx, kExitFailed, *err, err);
  }
  if (ctx->StopRequested()) {
    std::string stop_err;
    StopSlot(ctx, state, state->previous_slot, &stop_err);
    return Refuse(ctx, kExitFailed,
                  "rollback cancelled: bgctl received a stop signal", err);
  }
  state->Slot(state->previous_slot).version = state->previous_version;
  state->stable_slot = state->previous_slot;
  state->previous_slot.clear();
  state->previous_version.clear();
  if (SwitchTraffic(ctx, state, 0, err) != SwitchOutcome::kConfirmed) {
    state->previous_slot = state->stable_slot;
    state->previous_version = state->Slot(state->stable_slot).version;
    state->stable_slot = demoted;
    std::string ignored;
    Persist(ctx, state, &ignored);
    return Refuse(ctx, kExitFailed, *err, err);
  }
  state->phase = Phase::kRolledBack;
  state->last_error = "rolled back by the operator";
  MakeBootSlot(ctx, state->stable_slot);
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
