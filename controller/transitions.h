// The small actions every rollout command is made of: move traffic (and
// confirm it), stop a slot's instance, persist the state, run a hook, record
// history. Each keeps state.json true to what is running after it returns.
#ifndef BGCTL_CONTROLLER_TRANSITIONS_H_
#define BGCTL_CONTROLLER_TRANSITIONS_H_

#include <csignal>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/exit_codes.h"
#include "controller/history.h"
#include "controller/output.h"
#include "controller/state.h"
#include "controller/traffic_switch.h"

namespace bgctl {

class MetricsFile;
class SlotRunner;
class TrafficSwitch;

// Everything a state transition needs. Nothing here is owned.
struct RolloutContext {
  const Config* config = nullptr;
  Env env;
  TrafficSwitch* traffic = nullptr;  // nginx.switch
  SlotRunner* runner = nullptr;      // backend.runner
  Reporter* out = nullptr;
  // metrics.textfile, told of every state save, history line and analysis
  // update; null when not configured.
  MetricsFile* metrics = nullptr;
  // Set from a signal handler when bgctl is asked to stop; checked between
  // actions, never inside one. May be null.
  const volatile std::sig_atomic_t* stop_requested = nullptr;
  // This bgctl process, recorded as the rollout's owner.
  ProcessId self;
  // argv to run this bgctl binary again (for the keep_previous timer).
  std::vector<std::string> self_argv;
  std::string state_path;
  std::string history_path;

  bool StopRequested() const { return stop_requested && *stop_requested; }
};

// Reports `message` as the command's error, stores it in *err and returns
// `code`: how every transition fails, so a caller never has to print it.
ExitCode Refuse(RolloutContext* ctx, ExitCode code, const std::string& message,
                std::string* err);

// Writes `state` to state.json (and then the metrics); on failure reports
// the error.
bool Persist(RolloutContext* ctx, State* state, std::string* err);

// Puts `canary_weight` percent of traffic on state->canary_slot (0: stable
// only, 100: canary only) and the rest on state->stable_slot, through the
// traffic switch. The intent is saved first: a new generation number (never
// one nginx may have seen) and traffic_unknown, so a crash in the middle of
// the switch leaves a state that says so. When nginx serves a generation
// ahead of the state's, the command says so ("takeover") and the split
// takes over (TrafficSplit::takeover, TrafficSwitch::TakeoverFloor). What
// the switch notes besides (a migration) is an event. Then:
//   kConfirmed  canary_weight = the new weight, traffic_unknown cleared;
//   kRejected   nginx still serves what it served before: traffic_unknown
//               as it was before the call, weight unchanged;
//   kUnknown    traffic_unknown stays set;
// and the state is saved. *err says why unless confirmed (a failed save
// makes even a confirmed switch return kUnknown).
SwitchOutcome SwitchTraffic(RolloutContext* ctx, State* state,
                            int canary_weight, std::string* err);

// All traffic on stable with a split that no longer names the canary: the
// rollout ends (its canary is about to stop, or was promoted), so requests
// pinned by the lua switch's preview header or sticky cookie reach only
// live instances. Otherwise as SwitchTraffic(ctx, state, 0, err).
SwitchOutcome SwitchToStable(RolloutContext* ctx, State* state,
                             std::string* err);

// The split `state` asks for with `canary_weight` on the canary.
TrafficSplit SplitOf(const Config& config, const State& state,
                     int canary_weight);

// Starts `version` in `slot` through the runner, intent first: the new
// Instance (tag, unit) is saved before the start and again with its process
// after it. Reports "started ...". False with *err.
bool StartSlot(RolloutContext* ctx, State* state, const std::string& slot,
               const std::string& version, std::string* err);

// After a crash between a start and the state write that records its
// process: every slot whose Instance has a tag but no live process gets the
// process that start left running (SlotRunner::Adopt), reported and saved,
// so the command that follows stops or uses it instead of leaving an orphan
// that holds the slot's port. With systemd this also finds a unit started
// again with the same tag (after a reboot, or a restart by systemd). A
// rollout that ended (not progressing, paused or interrupted) whose canary
// is stopped and has no traffic, but is still named, is forgotten. False
// only when the state cannot be saved.
bool ReconcileInstances(RolloutContext* ctx, State* state, std::string* err);

// The rollout in `state` is progressing but its owner is gone (the caller
// holds the lock): marks it interrupted, says so, and appends the history
// line its owner never wrote (outcome "interrupted", `ends` its deploy id),
// saved with the phase as state->pending_history first.
bool MarkInterrupted(RolloutContext* ctx, State* state, std::string* err);

// Drains and stops the instance in `slot` (if one runs) and clears its pid in
// the state. Reports how long the drain took. Returns false if it could not
// be stopped.
bool StopSlot(RolloutContext* ctx, State* state, const std::string& slot,
              std::string* err);

// Ends the rollout in `state`: all traffic to stable with a split that no
// longer names the canary (SwitchToStable, confirmed; unless
// `always_switch`, skipped when the state knows the canary has no traffic
// and the switch pins no requests), then the canary drained, stopped and
// forgotten (canary_slot cleared, weight 0). Without a stable version only
// the canary is stopped, and only when the traffic is known, or the
// upstream file does not name it and nginx serves an older generation than
// the switch that was not confirmed. False with *err when the switch was
// not confirmed or the traffic stays unknown: then the canary keeps running
// (nginx may still send it requests) and the state says so.
bool EndRollout(RolloutContext* ctx, State* state, bool always_switch,
                std::string* err);

// Runs a hook argv (placeholders filled from the slot) with the hook timeout.
// Returns true when it is empty or exited 0; otherwise *err says why.
bool RunHook(RolloutContext* ctx, const std::string& name,
             const std::vector<std::string>& argv, const State& state,
             const std::string& slot, std::string* err);

// A history entry for `command` started now: id, versions and steps taken
// from `state`; the caller sets the outcome, reason and end.
HistoryEntry StartHistoryEntry(RolloutContext* ctx, const State& state,
                               const std::string& id,
                               const std::string& command,
                               const std::string& version,
                               const std::string& from_version);

// Appends one entry to the history (and then updates the metrics); a
// failure is reported, not fatal.
void RecordHistory(RolloutContext* ctx, const HistoryEntry& entry);

// Appends state->pending_history (if any) to the history, then clears it
// and saves the state. False only when the state cannot be saved.
bool CommitHistory(RolloutContext* ctx, State* state, std::string* err);

// A new deploy id: "d-<wall ms>".
std::string NewDeployId(RolloutContext* ctx);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_TRANSITIONS_H_
