// backend.runner: process (the default): each slot's instance is a process
// bgctl spawns from backend.command in its own session, detached so it
// outlives bgctl, with its output appended to state_dir/logs/SLOT.log. Uses
// only the Env interfaces (Clock, FileSystem, ProcessRunner).
#ifndef BGCTL_CONTROLLER_PROCESS_SLOT_RUNNER_H_
#define BGCTL_CONTROLLER_PROCESS_SLOT_RUNNER_H_

#include <cstdint>
#include <string>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/slot_runner.h"

namespace bgctl {

class ProcessSlotRunner : public SlotRunner {
 public:
  // Keeps pointers from `env` and to `config`, which must outlive it.
  ProcessSlotRunner(const Config& config, Env env);

  const char* Name() const override { return "process"; }
  // A new random tag (16 hex digits); no unit.
  void Prepare(const std::string& slot, Instance* instance) override;
  // Starts backend.command for `slot` and `version`: fills {port} {version}
  // {slot} in each argv element, adds backend.env and BGCTL_SLOT,
  // BGCTL_VERSION, BGCTL_PORT, BGCTL_INSTANCE (the tag) to the environment,
  // runs in backend.workdir, and appends stdout+stderr to
  // state_dir/logs/SLOT.log (creating state_dir/logs, mode 0755). Before the
  // start one line is appended to that log: "bgctl: starting version V in
  // slot S on port P at <UTC time>". Errors: `unknown slot "x"`, the folder
  // or log errors, or the spawn error (`cannot start "xyz": No such file or
  // directory`).
  bool Start(const std::string& slot, const std::string& version,
             Instance* instance, std::string* err) override;
  bool IsAlive(const Instance& instance) override;
  // StopProcess with backend.drain.
  StopOutcome Stop(const Instance& instance, int64_t* elapsed_ms,
                   std::string* err) override;
  bool CpuTimeMs(const Instance& instance, int64_t* ms) override;
  // The tail of state_dir/logs/SLOT.log.
  std::string RecentOutput(const std::string& slot, const Instance& instance,
                           int max_lines) override;
  // The oldest running process with BGCTL_INSTANCE=tag (the one spawned;
  // its children share the tag and its process group).
  bool Adopt(Instance* instance) override;
  // Nothing starts a process at boot: true, and nothing is done.
  bool SetBootSlot(const std::string& stable_slot, std::string* err) override;
  // "running" or "not running".
  RunnerStatus Status(const std::string& slot,
                      const Instance& instance) override;

  // The log file of `slot`.
  std::string LogPath(const std::string& slot) const;

 private:
  const Config& cfg_;
  Env env_;
};

// Sends drain.signal to the process (and its group), waits up to
// drain.timeout_ms for it to exit (checking IsAlive every 10 ms), then sends
// SIGKILL and waits up to 2 s more. *elapsed_ms is the time from the call to
// the return. *err is set only for kFailed. Safe to call on a process that
// is already gone (kNotRunning).
StopOutcome StopProcess(Env env, const DrainConfig& drain,
                        const ProcessId& process, int64_t* elapsed_ms,
                        std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_PROCESS_SLOT_RUNNER_H_
