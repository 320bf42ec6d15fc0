// state.json: where the service stands (which slot is stable, the rollout
// under way, the processes bgctl started). Every command loads it under the
// lock and saves it after each action, so a new bgctl process can always pick
// up where the last one stopped.
#ifndef BGCTL_CONTROLLER_STATE_H_
#define BGCTL_CONTROLLER_STATE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/history.h"
#include "controller/slot_runner.h"

namespace bgctl {

enum class Phase {
  kIdle,
  kProgressing,
  kPaused,
  kPromoted,
  kRolledBack,
  kAborted,
  kInterrupted
};

// "idle", "progressing", "paused", "promoted", "rolled_back", "aborted",
// "interrupted".
const char* PhaseName(Phase phase);
// The inverse of PhaseName; false for any other text.
bool ParsePhase(const std::string& name, Phase* phase);

struct SlotState {
  std::string version;  // empty: nothing deployed in this slot
  Instance instance;    // what runs there (process pid 0: nothing known)
};

struct State {
  Phase phase = Phase::kIdle;
  std::string stable_slot;  // "blue", "green", or "" before the first deploy
  std::string canary_slot;  // "" when no rollout is under way
  SlotState blue, green;
  int canary_weight = 0;  // percent of traffic on the canary, 0..100
  int step_index = -1;    // index into the rollout's steps, -1 before the first
  int step_count = 0;
  uint64_t generation = 0;  // number of the last upstream-file write
  // A switch was started and not confirmed (persisted before the switch, so
  // also after a crash in the middle of one): nginx may serve the split of
  // generation `generation` or the one before. canary_weight is the last
  // confirmed weight. The next switch puts file, nginx and state back in
  // agreement.
  bool traffic_unknown = false;
  int owner_pid = 0;          // the bgctl process driving the rollout (0: none)
  std::string owner_command;  // what it ran: "deploy", "promote", ...
  uint64_t owner_start_time = 0;
  std::string deploy_id;      // id of the current/last deploy
  std::string previous_slot;  // after a promotion: the old version's slot
  std::string previous_version;
  int64_t previous_expires_ms = 0;  // wall clock when keep_previous ends
  std::string last_error;           // reason of the last rollback/abort/failure
  // The history line of an outcome this state records (a promotion, a
  // rollback, an abort, a pause, an interruption), saved with it so that
  // state and history change together: the command that decided it appends
  // it and clears this; after a crash the next command does
  // (RecoverPendingHistory).
  std::optional<HistoryEntry> pending_history;
  std::vector<int> steps;     // the weights of the current rollout's steps
  int64_t updated_at_ms = 0;  // wall clock of the last save

  // The slot called `name`. Precondition: name is "blue" or "green"; for
  // anything else a scratch SlotState is returned (empty; writes are lost).
  SlotState& Slot(const std::string& name);
  const SlotState& Slot(const std::string& name) const;
  // "blue" <-> "green"; "" for anything else.
  static std::string Other(const std::string& slot);
};

// state_dir + "/state.json".
std::string StatePath(const Config& config);

// Reads `path`. A missing file gives an idle State and true. An unreadable
// file fails with *err "cannot read state PATH: ...", a file that is not a
// valid state (bad JSON, a missing or mistyped field, impossible values)
// with "corrupt state file PATH: <reason>": the state is never reset
// silently. Unknown fields are ignored.
bool LoadState(FileSystem* fs, const std::string& path, State* state,
               std::string* err);

// True when the state says a rollout is progressing but the bgctl process
// that drove it (pid and start time) is gone: the rollout was interrupted.
bool OwnerGone(const State& state, ProcessRunner* processes);

// Writes `state` to `path` atomically (FileSystem::WriteFileAtomic), mode
// 0600.
bool SaveState(FileSystem* fs, const std::string& path, const State& state,
               std::string* err);

// The state as state.json holds it, and back (false with a reason).
nlohmann::json StateToJson(const State& state);
bool StateFromJson(const nlohmann::json& j, State* state, std::string* err);

// `status --output json` (CONTRACT.md): service, phase, stable and canary
// ({slot, version, port, pid, weight} or null), step {index, count}, and
// also generation, steps, previous ({slot, version} or null), last_error,
// deploy_id, owner_pid, updated_at_ms. With `runners`, each slot object
// that has an entry there also gets "instance": {runner, unit, state, pid,
// restarts, boot} (what the runner sees now).
nlohmann::json StatusJson(const State& state, const Config& config,
                          const RunnerStatuses* runners = nullptr);

// The same for humans, a few lines ending in '\n'. With `runners`, a slot
// run as a unit gets a line "  unit U: STATE, pid N, R restarts, BOOT".
std::string StatusText(const State& state, const Config& config,
                       const RunnerStatuses* runners = nullptr);

// Milliseconds since the epoch as "2024-05-01T12:00:00Z" (UTC).
std::string FormatUtc(int64_t wall_ms);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_STATE_H_
