// How a slot's instance runs. Two implementations, chosen once from
// backend.runner by MakeSlotRunner:
//   process  a detached process bgctl spawns in its own session, its output
//            appended to state_dir/logs/SLOT.log (process_slot_runner.cc);
//   systemd  a systemd unit per slot, supervised, restarted on failure,
//            logged in the journal, enabled for the next boot when stable
//            (systemd_slot_runner.cc).
// The rollout never knows which one it has. A slot holds one instance today;
// Instance is what state.json records of it, so a slot can later hold several
// (several units or a template's instances) without another rewrite.
//
// Crash consistency: the caller persists the Instance that Prepare filled in
// (the intent) before Start, and persists it again after Start. A bgctl
// killed in between leaves an Instance with a tag but no process; Adopt
// finds what that start left running.
#ifndef BGCTL_CONTROLLER_SLOT_RUNNER_H_
#define BGCTL_CONTROLLER_SLOT_RUNNER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

// What bgctl knows of one slot's instance.
struct Instance {
  ProcessId process;  // the main process; pid 0: none known
  std::string unit;   // the systemd unit; "" with the process runner
  // A random token set by Prepare before the start and given to the
  // instance (environment BGCTL_INSTANCE), so its processes can be found
  // even when the pid was never recorded. "" for an instance bgctl did not
  // start this way (or that was stopped).
  std::string tag;
};

enum class StopOutcome {
  kNotRunning,  // not alive when Stop was called
  kExited,      // exited within drain.timeout_ms after drain.signal
  kKilled,      // still running at the drain timeout; SIGKILL ended it
  kFailed,      // could not be stopped
};

// "not running", "exited", "killed", "failed": for messages and JSON.
const char* StopOutcomeName(StopOutcome outcome);

// A slot's instance as the runner sees it now, for `status`.
struct RunnerStatus {
  std::string unit;   // "" with the process runner
  std::string state;  // e.g. "running", "exited", "active (running)"
  int restarts = 0;   // restarts by the supervisor since the unit started
  int pid = 0;        // the main process now (0: none); after a restart by
                      // the supervisor not the pid state.json recorded
  std::string boot;   // "enabled", "disabled", ...; "" without a boot
};

class SlotRunner {
 public:
  virtual ~SlotRunner() = default;
  // "process" or "systemd".
  virtual const char* Name() const = 0;

  // Fills in what must be persisted before the start of a new instance in
  // `slot`: a new tag, and the unit name. Clears the process.
  virtual void Prepare(const std::string& slot, Instance* instance) = 0;
  // Starts `version` in `slot` for the Instance Prepare filled in, and sets
  // instance->process. Returns as soon as it is started (not healthy: see
  // health.h). False with *err when it cannot be started.
  virtual bool Start(const std::string& slot, const std::string& version,
                     Instance* instance, std::string* err) = 0;
  // True while the instance recorded (same process) runs. A supervisor's
  // restart is a new process: false for the old one.
  virtual bool IsAlive(const Instance& instance) = 0;
  // Drains and stops it: the drain signal, up to the drain timeout, then
  // SIGKILL. Safe on an instance that is gone (kNotRunning). *elapsed_ms is
  // the time taken; *err is set for kFailed.
  virtual StopOutcome Stop(const Instance& instance, int64_t* elapsed_ms,
                           std::string* err) = 0;
  // CPU time (user+system) of all its processes, in milliseconds.
  virtual bool CpuTimeMs(const Instance& instance, int64_t* ms) = 0;
  // The last lines it wrote (its log or journal), for error messages.
  virtual std::string RecentOutput(const std::string& slot,
                                   const Instance& instance, int max_lines) = 0;
  // For an instance with a tag that is not alive, at the start of a
  // command: finds the process started for instance->tag and sets
  // instance->process. False (and instance unchanged) when nothing of that
  // start runs. The process runner adopts only when no process was recorded
  // (a crash between Start and the state write); the systemd runner also
  // when the unit runs a new MainPID with the tag (after a reboot, or a
  // restart by systemd).
  virtual bool Adopt(Instance* instance) = 0;
  // After a promotion: `stable_slot` starts at the next boot, the other slot
  // does not (systemd: enable/disable; the process runner has no boot).
  virtual bool SetBootSlot(const std::string& stable_slot,
                           std::string* err) = 0;
  // What runs in `slot` now, for status.
  virtual RunnerStatus Status(const std::string& slot,
                              const Instance& instance) = 0;
};

// The runner backend.runner names. Keeps pointers from `env`.
std::unique_ptr<SlotRunner> MakeSlotRunner(const Config& config, Env env);

// What the runner says of each slot that holds something now (the stable,
// the canary and the previous slot), by slot name; for `status`.
struct State;
using RunnerStatuses = std::map<std::string, RunnerStatus>;
RunnerStatuses SlotStatuses(SlotRunner* runner, const State& state);

// Shared by the runners.
// 16 hex digits from the kernel's random source: a new Instance::tag.
std::string NewInstanceTag();
// backend.command with {port} {version} {slot} filled in for `slot`.
std::vector<std::string> InstanceArgv(const Config& config,
                                      const std::string& slot,
                                      const std::string& version);
// backend.env plus BGCTL_SLOT, BGCTL_VERSION, BGCTL_PORT and BGCTL_INSTANCE
// (the tag): what every instance's processes get.
std::map<std::string, std::string> InstanceEnvironment(
    const Config& config, const std::string& slot, const std::string& version,
    const std::string& tag);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SLOT_RUNNER_H_
