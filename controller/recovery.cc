#include "controller/recovery.h"

#include <vector>

#include "controller/history.h"
#include "controller/slot_runner.h"

namespace bgctl {
namespace {

bool SameEntry(const HistoryEntry& a, const HistoryEntry& b) {
  return a.id == b.id && a.command == b.command && a.outcome == b.outcome &&
         a.ended_ms == b.ended_ms;
}

// The pending line is appended unless the killed command got that far.
bool RecoverPendingHistory(RolloutContext* ctx, State* state,
                           std::string* err) {
  if (!state->pending_history) return true;
  std::vector<HistoryEntry> entries;
  std::string read_err;
  if (ReadHistory(ctx->env.fs, ctx->history_path, &entries, &read_err)) {
    for (const HistoryEntry& e : entries) {
      if (!SameEntry(e, *state->pending_history)) continue;
      state->pending_history.reset();
      return Persist(ctx, state, err);
    }
  }
  ctx->out->Event("history", "recording the " +
                                 state->pending_history->outcome + " " +
                                 state->pending_history->command +
                                 " that an interrupted bgctl decided");
  return CommitHistory(ctx, state, err);
}

}  // namespace

bool RolloutEnded(const State& state) {
  return state.phase != Phase::kProgressing && state.phase != Phase::kPaused &&
         state.phase != Phase::kInterrupted;
}

bool FinishEndedRollout(RolloutContext* ctx, State* state, std::string* err) {
  if (state->canary_slot.empty() || !RolloutEnded(*state)) return true;
  ctx->out->Event("cleanup",
                  "finishing the " + std::string(PhaseName(state->phase)) +
                      " rollout of " + state->Slot(state->canary_slot).version +
                      " first");
  if (EndRollout(ctx, state, /*always_switch=*/false, err)) return true;
  ctx->out->Error("cannot finish the " + std::string(PhaseName(state->phase)) +
                  " rollout: " + *err);
  return false;
}

std::string OverduePrevious(RolloutContext* ctx, const State& state) {
  const std::string& slot = state.previous_slot;
  if (slot.empty() || slot == state.stable_slot || slot == state.canary_slot ||
      state.Slot(slot).instance.process.pid == 0 ||
      ctx->env.clock->WallMs() < state.previous_expires_ms)
    return "";
  return slot;
}

bool RecoverOnOpen(RolloutContext* ctx, State* state, std::string* err) {
  if (!ReconcileInstances(ctx, state, err)) return false;
  if (state->phase == Phase::kProgressing && !MarkInterrupted(ctx, state, err))
    return false;
  if (!RecoverPendingHistory(ctx, state, err)) return false;
  const std::string previous = OverduePrevious(ctx, *state);
  if (previous.empty()) return true;
  ctx->out->Event("retire", "the previous instance " +
                                state->Slot(previous).version + " (" +
                                previous + ") is kept no longer: stopping it");
  return StopSlot(ctx, state, previous, err);
}

}  // namespace bgctl
