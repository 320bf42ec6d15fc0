#include "controller/transitions.h"

#include <algorithm>
#include <cstdlib>

#include "controller/control_key.h"
#include "controller/failpoint.h"
#include "controller/metrics.h"
#include "controller/placeholders.h"
#include "controller/slot_runner.h"
#include "controller/text.h"
#include "controller/upstream_file.h"

namespace bgctl {

ExitCode Refuse(RolloutContext* ctx, ExitCode code, const std::string& message,
                std::string* err) {
  *err = message;
  ctx->out->Error(message);
  return code;
}

bool Persist(RolloutContext* ctx, State* state, std::string* err) {
  state->updated_at_ms = ctx->env.clock->WallMs();
  if (SaveState(ctx->env.fs, ctx->state_path, *state, err)) {
    Failpoint("persisted");
    if (ctx->metrics) ctx->metrics->StateSaved(*state);
    return true;
  }
  ctx->out->Error(*err);
  return false;
}

TrafficSplit SplitOf(const Config& config, const State& state,
                     int canary_weight) {
  TrafficSplit split;
  if (int port = config.PortOf(state.stable_slot))
    split.stable.push_back({"127.0.0.1", port});
  if (int port = config.PortOf(state.canary_slot))
    split.canary.push_back({"127.0.0.1", port});
  split.canary_weight = canary_weight;
  split.rollout_id = state.canary_slot.empty() ? "" : state.deploy_id;
  return split;
}

namespace {

// The generation of the next split, reserved in *state: one above bgctl's
// own, or, when nginx serves a generation ahead of it (a restored state, a
// split left by an older bgctl), a takeover (said, and flagged in *split).
bool ReserveGeneration(RolloutContext* ctx, State* state, TrafficSplit* split,
                       std::string* err) {
  uint64_t served = 0;
  std::string probe_err;
  ctx->traffic->ServedGeneration(&served, &probe_err);
  uint64_t next = state->generation + 1;
  if (served > state->generation) {
    uint64_t floor = 0;
    if (!ctx->traffic->TakeoverFloor(served, &floor, err)) return false;
    next = std::max(next, floor);
    split->takeover = true;
    ctx->out->Notice(
        "takeover",
        "nginx serves generation " + std::to_string(served) +
            ", ahead of bgctl's state (generation " +
            std::to_string(state->generation) +
            "): a restored state, or a split left by an older bgctl; taking "
            "over with generation " +
            std::to_string(next),
        {{"served_generation", served}, {"generation", next}});
  }
  state->generation = next;
  split->generation = next;
  return true;
}

// Makes nginx serve `split` (SwitchTraffic's contract).
SwitchOutcome Switch(RolloutContext* ctx, State* state, TrafficSplit split,
                     std::string* err) {
  if (split.stable.empty() && split.canary.empty()) {
    *err = "nothing to send traffic to: no stable version and no canary";
    return SwitchOutcome::kRejected;
  }
  const int canary_weight = EffectiveCanaryWeight(split);
  // The intent first: a generation number nginx has never seen, and the
  // split unknown until the switch says otherwise.
  if (!ReserveGeneration(ctx, state, &split, err))
    return SwitchOutcome::kRejected;
  const bool was_unknown = state->traffic_unknown;
  state->traffic_unknown = true;
  if (!Persist(ctx, state, err)) return SwitchOutcome::kRejected;

  SwitchResult r = ctx->traffic->Apply(split);
  if (!r.note.empty()) ctx->out->Event("switch_note", r.note);
  if (r.outcome == SwitchOutcome::kConfirmed) {
    state->canary_weight = canary_weight;
    state->traffic_unknown = false;
  } else if (r.outcome == SwitchOutcome::kRejected) {
    state->traffic_unknown = was_unknown;
  }
  *err = r.error;
  if (!Persist(ctx, state, err)) return SwitchOutcome::kUnknown;
  if (r.outcome != SwitchOutcome::kConfirmed) return r.outcome;
  const SlotState& canary = state->Slot(state->canary_slot);
  const std::string weight = std::to_string(canary_weight) + "% on ";
  std::string text = "weight " + weight + "canary " + canary.version;
  if (state->canary_slot.empty())
    text = "traffic 100% on " + state->stable_slot;
  else if (state->owner_command == "rollback")  // the previous version back
    text = "traffic " + weight + "the previous version " + canary.version +
           " (" + state->canary_slot + ")";
  ctx->out->Event("weight",
                  text + " confirmed (generation " +
                      std::to_string(state->generation) + ", " +
                      std::to_string(r.elapsed_ms) + " ms)",
                  {{"weight", canary_weight},
                   {"generation", state->generation},
                   {"switch", ctx->traffic->Name()},
                   {"switch_ms", r.elapsed_ms}});
  return SwitchOutcome::kConfirmed;
}

// With no stable side and the last switch unknown, the canary may stop
// only when nothing can send it requests: the upstream file does not name
// it (nginx's next start or reload) and nginx serves a generation older
// than the switch that was not confirmed (now). Then the traffic is known
// again: what the file holds.
bool CanaryUnreachable(RolloutContext* ctx, State* state) {
  const Config& cfg = *ctx->config;
  std::string text, err;
  UpstreamFileContents file;
  if (ctx->env.fs->Exists(cfg.nginx.upstream_file) &&
      (!ctx->env.fs->ReadFile(cfg.nginx.upstream_file, &text, &err) ||
       !ParseUpstreamFile(text, cfg.nginx.upstream_name, &file, &err)))
    return false;
  const int port = cfg.PortOf(state->canary_slot);
  for (const UpstreamServer& s : file.servers)
    if (s.port == port) return false;
  uint64_t served = 0;
  if (!ctx->traffic->ServedGeneration(&served, &err) ||
      served >= state->generation)
    return false;
  state->traffic_unknown = false;
  return true;
}

}  // namespace

SwitchOutcome SwitchTraffic(RolloutContext* ctx, State* state,
                            int canary_weight, std::string* err) {
  return Switch(ctx, state, SplitOf(*ctx->config, *state, canary_weight), err);
}

SwitchOutcome SwitchToStable(RolloutContext* ctx, State* state,
                             std::string* err) {
  TrafficSplit split = SplitOf(*ctx->config, *state, 0);
  split.canary.clear();
  split.rollout_id.clear();
  return Switch(ctx, state, split, err);
}

bool StartSlot(RolloutContext* ctx, State* state, const std::string& slot,
               const std::string& version, std::string* err) {
  SlotState& s = state->Slot(slot);
  s.version = version;
  ctx->runner->Prepare(slot, &s.instance);
  if (!Persist(ctx, state, err)) return false;
  if (!ctx->runner->Start(slot, version, &s.instance, err)) {
    s.instance = Instance();
    std::string ignored;
    Persist(ctx, state, &ignored);
    return false;
  }
  if (!Persist(ctx, state, err)) return false;
  ctx->out->Event("started",
                  "started " + version + " (" + slot + ", port " +
                      std::to_string(ctx->config->PortOf(slot)) + ") pid " +
                      std::to_string(s.instance.process.pid),
                  {{"slot", slot}, {"pid", s.instance.process.pid}});
  return true;
}

bool ReconcileInstances(RolloutContext* ctx, State* state, std::string* err) {
  bool changed = false;
  for (const std::string slot : {"blue", "green"}) {
    SlotState& s = state->Slot(slot);
    if (s.instance.tag.empty() || ctx->runner->IsAlive(s.instance)) continue;
    const int recorded = s.instance.process.pid;
    if (!ctx->runner->Adopt(&s.instance)) continue;
    changed = true;
    ctx->out->Event(
        "adopted",
        "found " + s.version + " (" + slot + ") running as pid " +
            std::to_string(s.instance.process.pid) +
            (recorded == 0
                 ? ", started by a bgctl that was interrupted"
                 : ", started again since pid " + std::to_string(recorded) +
                       " (a reboot or a restart by systemd)"),
        {{"slot", slot}, {"pid", s.instance.process.pid}});
  }
  // A rollout that ended (rolled back, aborted) with its canary stopped and
  // no traffic on it, killed before it forgot the canary: forget it now.
  if (!state->canary_slot.empty() && state->phase != Phase::kProgressing &&
      state->phase != Phase::kPaused && state->phase != Phase::kInterrupted &&
      state->canary_weight == 0 && !state->traffic_unknown &&
      !ctx->runner->IsAlive(state->Slot(state->canary_slot).instance)) {
    // StopSlot, not just forgetting: a unit must not start at the next boot.
    if (!StopSlot(ctx, state, state->canary_slot, err)) return false;
    state->canary_slot.clear();
    changed = true;
  }
  return !changed || Persist(ctx, state, err);
}

// The rollout's owner is gone (we hold its lock): the rollout is marked
// interrupted, and the history gets the line its owner never wrote.
bool MarkInterrupted(RolloutContext* ctx, State* state, std::string* err) {
  std::string why = "the bgctl (pid " + std::to_string(state->owner_pid) +
                    ") that ran `" +
                    (state->owner_command.empty() ? std::string("deploy")
                                                  : state->owner_command) +
                    "` stopped in the middle (killed?)";
  ctx->out->Error(why +
                  "; the rollout is now phase interrupted: `bgctl "
                  "abort` or `bgctl promote` take it from here");
  HistoryEntry e = StartHistoryEntry(
      ctx, *state, state->deploy_id,
      state->owner_command.empty() ? "deploy" : state->owner_command,
      state->canary_slot.empty() ? "" : state->Slot(state->canary_slot).version,
      state->stable_slot.empty() ? ""
                                 : state->Slot(state->stable_slot).version);
  e.outcome = "interrupted";
  e.reason = why;
  e.reason_kind = "interrupted";
  e.ends = state->deploy_id;
  // The owner never wrote its line: its start is in the deploy id, d-<ms>.
  e.started_ms = state->deploy_id.rfind("d-", 0) == 0
                     ? std::strtoll(state->deploy_id.c_str() + 2, nullptr, 10)
                     : 0;
  e.ended_ms = ctx->env.clock->WallMs();
  // Without a canary the rollout had ended already, but not said how.
  state->phase =
      state->canary_slot.empty() ? Phase::kAborted : Phase::kInterrupted;
  state->owner_pid = 0;
  state->last_error = why;
  state->pending_history = e;
  return Persist(ctx, state, err) && CommitHistory(ctx, state, err);
}

bool StopSlot(RolloutContext* ctx, State* state, const std::string& slot,
              std::string* err) {
  SlotState& s = state->Slot(slot);
  if (s.instance.process.pid == 0 && s.instance.tag.empty()) return true;
  if (s.instance.process.pid == 0) ctx->runner->Adopt(&s.instance);
  int64_t elapsed = 0;
  StopOutcome outcome = ctx->runner->Stop(s.instance, &elapsed, err);
  std::string who = s.version + " (" + slot + ", pid " +
                    std::to_string(s.instance.process.pid) + ")";
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
  s.instance = Instance();
  return Persist(ctx, state, err);
}

bool EndRollout(RolloutContext* ctx, State* state, bool always_switch,
                std::string* err) {
  // A switch that pins requests may still name the canary at 0%.
  const bool named = state->canary_weight > 0 || state->traffic_unknown ||
                     ctx->traffic->PinsRequests();
  if (!state->stable_slot.empty() && (always_switch || named) &&
      SwitchToStable(ctx, state, err) != SwitchOutcome::kConfirmed)
    return false;
  if (state->stable_slot.empty() && state->traffic_unknown &&
      !CanaryUnreachable(ctx, state)) {
    *err = "the last switch (generation " + std::to_string(state->generation) +
           ") was not confirmed and there is no stable version to send "
           "traffic to: the canary keeps running while nginx may still send "
           "it requests";
    return false;
  }
  if (!StopSlot(ctx, state, state->canary_slot, err)) return false;
  state->canary_slot.clear();
  state->canary_weight = 0;
  return Persist(ctx, state, err);
}

namespace {

// The lua switch's preview header and the rollout's token for a hook's
// environment (never its argv, which `ps` shows); empty when preview is
// off or the key cannot be read (the hook then cannot pin the canary).
std::map<std::string, std::string> PreviewEnv(RolloutContext* ctx,
                                              const State& state) {
  const Config& cfg = *ctx->config;
  const std::string& header = cfg.nginx.lua.preview_header;
  ControlKey key;
  std::string ignored;
  if (cfg.nginx.switch_kind != SwitchKind::kLua || header.empty() ||
      state.deploy_id.empty() ||
      !LoadControlKey(ctx->env.fs, cfg.state_dir, &key, &ignored))
    return {};
  return {{"BGCTL_PREVIEW_HEADER", header},
          {"BGCTL_PREVIEW_TOKEN", PreviewToken(key, state.deploy_id)}};
}

}  // namespace

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
  if (!ctx->env.processes->RunWithEnv(filled, PreviewEnv(ctx, state), cfg.dir,
                                      cfg.hooks.timeout_ms, &result, err)) {
    *err = name + " hook: " + *err;
    return false;
  }
  int64_t took = ctx->env.clock->NowMs() - start;
  std::string output = ValidUtf8(result.output);  // it goes into state.json
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
  if (!AppendHistory(ctx->env.fs, ctx->history_path, entry, &err)) {
    ctx->out->Error("could not record history: " + err);
    return;
  }
  if (ctx->metrics) ctx->metrics->HistoryAppended(entry);
}

bool CommitHistory(RolloutContext* ctx, State* state, std::string* err) {
  if (!state->pending_history) return true;
  RecordHistory(ctx, *state->pending_history);
  state->pending_history.reset();
  return Persist(ctx, state, err);
}

std::string NewDeployId(RolloutContext* ctx) {
  return "d-" + std::to_string(ctx->env.clock->WallMs());
}

}  // namespace bgctl
