// backend.runner: systemd: each slot's instance is a systemd unit
// (SlotUnitName: bgctl-SERVICE-SLOT.service written by bgctl, or the
// instance NAME@SLOT.service of the user's template), supervised and
// restarted by systemd, logged in the journal, started at boot when it is
// the stable slot. Uses only the Env interfaces; every systemctl and
// journalctl call goes through ProcessRunner::Run (systemctl.h).
//
// The life of a slot's unit:
//   Start        writes the unit (or the template instance's drop-in) and the
//                canary drop-in (Restart=no), enables it (add-wants to
//                backend.systemd.wanted_by), daemon-reload, `systemctl
//                restart`; the instance is the unit's MainPID, found by its
//                BGCTL_INSTANCE tag (with its start time). A program that
//                exits at once is started (pid 0), even when systemd failed
//                the start job for it: the health wait reports it;
//   IsAlive      that MainPID process runs, and (asked at most once a second)
//                the unit is active with that MainPID: a restart by systemd
//                is a new MainPID, so the old instance is not alive;
//   Stop         `systemctl stop` (KillSignal = drain signal, TimeoutStopSec
//                = drain timeout, then systemd's SIGKILL), reset-failed,
//                disable: a stopped slot does not start at boot;
//   SetBootSlot  the stable unit: enabled, canary drop-in removed (restarts
//                on failure from now on), daemon-reload; the other: disabled.
// So while a rollout runs, a crashing canary stays down and counts as a
// crash; a reboot in the middle of one brings back both slots as they were
// (nginx's upstream file holds the split) and `abort` or `promote` decide;
// after a promotion only the stable slot starts at boot.
//
// Replicas later: each of these steps is done per unit name (the private
// *Unit helpers); a slot with several units or template instances loops
// over them.
//
// Instances recorded without a unit (state.json written by the process
// runner) are handled as processes (ProcessSlotRunner), so a service can
// switch runner between deploys.
#ifndef BGCTL_CONTROLLER_SYSTEMD_SLOT_RUNNER_H_
#define BGCTL_CONTROLLER_SYSTEMD_SLOT_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/process_slot_runner.h"
#include "controller/slot_runner.h"
#include "controller/systemctl.h"

namespace bgctl {

class SystemdSlotRunner : public SlotRunner {
 public:
  // Keeps pointers from `env` and to `config`, which must outlive it.
  SystemdSlotRunner(const Config& config, Env env);

  const char* Name() const override { return "systemd"; }
  // A new tag, and the slot's unit name.
  void Prepare(const std::string& slot, Instance* instance) override;
  // See above. Errors name the file or the systemctl call; a unit that
  // fails to start adds the tail of its journal. A main process that exits
  // at once leaves instance->process at pid 0 (and true): the health wait
  // then reports it exited, with the journal.
  bool Start(const std::string& slot, const std::string& version,
             Instance* instance, std::string* err) override;
  bool IsAlive(const Instance& instance) override;
  // kNotRunning when the unit was not active; kKilled when systemd had to
  // SIGKILL it (Result=timeout); kFailed with systemctl's message.
  StopOutcome Stop(const Instance& instance, int64_t* elapsed_ms,
                   std::string* err) override;
  // usage_usec of the unit's cgroup (cpu.stat under /sys/fs/cgroup/unified
  // or /sys/fs/cgroup), else systemd's CPUUsageNSec, else the main process.
  bool CpuTimeMs(const Instance& instance, int64_t* ms) override;
  // The tail of `journalctl -u UNIT`.
  std::string RecentOutput(const std::string& slot, const Instance& instance,
                           int max_lines) override;
  // The unit's MainPID when it carries instance->tag.
  bool Adopt(Instance* instance) override;
  bool SetBootSlot(const std::string& stable_slot, std::string* err) override;
  // state "active (running)" (ActiveState (SubState)) or "not installed",
  // NRestarts, MainPID, `systemctl is-enabled`.
  RunnerStatus Status(const std::string& slot,
                      const Instance& instance) override;

 private:
  struct UnitCheck {
    int pid = 0;
    int64_t at_ms = 0;
    bool alive = false;
  };

  bool WriteUnitFiles(const std::string& slot, const std::string& version,
                      const Instance& instance, std::string* err);
  bool ResolveProgram(std::vector<std::string>* argv, std::string* err);
  // The process with `tag` that is the unit's MainPID now, asked up to
  // `attempts` times. *gone (and true): the unit has no main process.
  bool FindMainProcess(const std::string& unit, const std::string& tag,
                       int attempts, ProcessId* out, bool* gone,
                       std::string* err);
  // ExecMainStartTimestampMonotonic: changes when a main process starts.
  std::string MainStart(const std::string& unit);
  // After a failed start job: whether the program itself ran (and exited)
  // since `started_before`, rather than failing before it (exec, chdir,
  // User=: systemd's exit codes 200-243) or before its main process.
  bool ProgramRan(const std::string& unit, const std::string& started_before);
  bool UnitRunsPid(const std::string& unit, int pid);
  bool CgroupCpuMs(const std::string& unit, int64_t* ms);
  bool Enable(const std::string& unit, std::string* err);
  bool Disable(const std::string& unit, std::string* err);
  int64_t StopTimeoutMs() const;

  const Config& cfg_;
  Env env_;
  Systemctl systemctl_;
  ProcessSlotRunner processes_;  // instances recorded without a unit
  std::map<std::string, UnitCheck> checks_;     // by unit
  std::map<std::string, std::string> cgroups_;  // unit -> ControlGroup
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SYSTEMD_SLOT_RUNNER_H_
