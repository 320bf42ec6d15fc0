#include "controller/transitions.h"

#include <algorithm>

#include "controller/backend.h"
#include "controller/nginx.h"

namespace bgctl {

bool Persist(RolloutContext* ctx, State* state, std::string* err) {
  state->updated_at_ms = ctx->env.clock->WallMs();
  if (SaveState(ctx->env.fs, ctx->state_path, *state, err)) return true;
  ctx->out->Error(*err);
  return false;
}

bool SwitchTraffic(RolloutContext* ctx, State* state, int canary_weight,
                   std::string* err) {
  const Config& cfg = *ctx->config;
  int stable_port = cfg.PortOf(state->stable_slot);
  int canary_port = cfg.PortOf(state->canary_slot);
  if (canary_port == 0) canary_weight = 0;  // no canary: stable only
  if (stable_port == 0 && canary_weight == 0) {
    *err = "nothing to send traffic to: no stable version and no canary";
    return false;
  }
  // Reserve the generation number first: never reuse one nginx may have seen.
  uint64_t probed = 0;
  std::string probe_err;
  ctx->nginx->ProbeGeneration(&probed, &probe_err);
  state->generation = std::max(state->generation, probed) + 1;
  if (!Persist(ctx, state, err)) return false;

  std::vector<UpstreamServer> servers =
      ServersForSplit(stable_port, canary_port, canary_weight);
  int64_t elapsed = 0;
  if (!ctx->nginx->Apply(servers, state->generation, err, &elapsed))
    return false;
  state->canary_weight = canary_weight;
  if (!Persist(ctx, state, err)) return false;
  std::string text = canary_port == 0
                         ? "traffic 100% on " + state->stable_slot
                         : "weight " + std::to_string(canary_weight) +
                               "% on canary " +
                               state->Slot(state->canary_slot).version;
  ctx->out->Event("weight",
                  text + " confirmed (generation " +
                      std::to_string(state->generation) + ", " +
                      std::to_string(elapsed) + " ms)",
                  {{"weight", canary_weight},
                   {"generation", state->generation},
                   {"reload_ms", elapsed}});
  return true;
}

bool StopSlot(RolloutContext* ctx, State* state, const std::string& slot,
              std::string* err) {
  SlotState& s = state->Slot(slot);
  if (s.process.pid == 0) return true;
  int64_t elapsed = 0;
  StopOutcome outcome = StopBackend(ctx->env, ctx->config->backend.drain,
                                    s.process, &elapsed, err);
  std::string who =
      s.version + " (" + slot + ", pid " + std::to_string(s.process.pid) + ")";
  switch (outcome) {
    case StopOutcome::kNotRunning:
      ctx->out->Event("stopped", who + " had already exited");
      break;
    case StopOutcome::kExited:
      ctx->out->Event("drained",
                      who + " drained in " + std::to_string(elapsed) + " ms",
                      {{"slot", slot}, {"drain_ms", elapsed}});
      break;
    case StopOutcome::kKilled:
      ctx->out->Event(
          "killed",
          who + " did not exit within the drain timeout; killed after " +
              std::to_string(elapsed) + " ms",
          {{"slot", slot}, {"drain_ms", elapsed}});
      break;
    case StopOutcome::kFailed:
      ctx->out->Error("could not stop " + who + ": " + *err);
      return false;
  }
  s.process = ProcessId();
  return Persist(ctx, state, err);
}

bool RunHook(RolloutContext* ctx, const std::string& name,
             const std::vector<std::string>& argv, const State& state,
             const std::string& slot, std::string* err) {
  if (argv.empty()) return true;
  const Config& cfg = *ctx->config;
  std::string port = std::to_string(cfg.PortOf(slot));
  std::vector<std::string> filled =
      FillPlaceholders(argv, {{"version", state.Slot(slot).version},
                              {"slot", slot},
                              {"port", port},
                              {"preview_url", "http://127.0.0.1:" + port}});
  RunResult result;
  int64_t start = ctx->env.clock->NowMs();
  if (!ctx->env.processes->Run(filled, cfg.dir, cfg.hooks.timeout_ms, &result,
                               err)) {
    *err = name + " hook: " + *err;
    return false;
  }
  int64_t took = ctx->env.clock->NowMs() - start;
  std::string output = result.output;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  if (result.timed_out) {
    *err = name + " hook timed out after " + std::to_string(took) + " ms";
  } else if (result.exit_code != 0) {
    *err = name + " hook exited with " + std::to_string(result.exit_code);
  } else {
    ctx->out->Event("hook",
                    name + " hook passed in " + std::to_string(took) + " ms",
                    {{"hook", name}, {"output", output}});
    return true;
  }
  if (!output.empty()) *err += ": " + output;
  return false;
}

HistoryEntry StartHistoryEntry(RolloutContext* ctx, const State& state,
                               const std::string& id,
                               const std::string& command,
                               const std::string& version,
                               const std::string& from_version) {
  HistoryEntry e;
  e.id = id;
  e.command = command;
  e.version = version;
  e.from_version = from_version;
  e.started_ms = ctx->env.clock->WallMs();
  e.steps_total = state.step_count;
  e.steps_reached = state.step_index + 1;
  return e;
}

void RecordHistory(RolloutContext* ctx, const HistoryEntry& entry) {
  std::string err;
  if (!AppendHistory(ctx->env.fs, ctx->history_path, entry, &err))
    ctx->out->Error("could not record history: " + err);
}

std::string NewDeployId(RolloutContext* ctx) {
  return "d-" + std::to_string(ctx->env.clock->WallMs());
}

}  // namespace bgctl
