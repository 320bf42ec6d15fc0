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
#include "controller/history.h"
#include "controller/output.h"
#include "controller/state.h"

namespace bgctl {

class Nginx;

// Everything a state transition needs. Nothing here is owned.
struct RolloutContext {
  const Config* config = nullptr;
  Env env;
  Nginx* nginx = nullptr;
  Reporter* out = nullptr;
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

// Writes `state` to state.json; on failure reports the error.
bool Persist(RolloutContext* ctx, State* state, std::string* err);

// Puts `canary_weight` percent of traffic on state->canary_slot (0: stable
// only, 100: canary only) and the rest on state->stable_slot. The generation
// number is reserved in state.json before nginx sees it, so a number is never
// reused after a crash. Returns true only once nginx confirmed the reload;
// then state->canary_weight is updated and saved.
bool SwitchTraffic(RolloutContext* ctx, State* state, int canary_weight,
                   std::string* err);

// Drains and stops the instance in `slot` (if one runs) and clears its pid in
// the state. Reports how long the drain took. Returns false if it could not
// be stopped.
bool StopSlot(RolloutContext* ctx, State* state, const std::string& slot,
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

// Appends one entry to the history; a failure is reported, not fatal.
void RecordHistory(RolloutContext* ctx, const HistoryEntry& entry);

// A new deploy id: "d-<wall ms>".
std::string NewDeployId(RolloutContext* ctx);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_TRANSITIONS_H_
