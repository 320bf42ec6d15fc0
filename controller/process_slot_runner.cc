#include "controller/process_slot_runner.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "controller/failpoint.h"
#include "controller/process.h"
#include "controller/state.h"

namespace bgctl {

namespace {

const int64_t kPollMs = 10;
const int64_t kKillWaitMs = 2000;

// Polls IsAlive every kPollMs until the process is gone (true) or
// `limit_ms` has passed since `since` (false).
bool WaitGone(Env env, const ProcessId& process, int64_t since,
              int64_t limit_ms) {
  for (;;) {
    if (!env.processes->IsAlive(process)) return true;
    int64_t left = limit_ms - (env.clock->NowMs() - since);
    if (left <= 0) return false;
    env.clock->SleepMs(std::min(kPollMs, left));
  }
}

}  // namespace

const char* StopOutcomeName(StopOutcome outcome) {
  switch (outcome) {
    case StopOutcome::kNotRunning:
      return "not running";
    case StopOutcome::kExited:
      return "exited";
    case StopOutcome::kKilled:
      return "killed";
    case StopOutcome::kFailed:
      break;
  }
  return "failed";
}

ProcessSlotRunner::ProcessSlotRunner(const Config& config, Env env)
    : cfg_(config), env_(env) {}

void ProcessSlotRunner::Prepare(const std::string&, Instance* instance) {
  *instance = Instance();
  instance->tag = NewInstanceTag();
}

std::string ProcessSlotRunner::LogPath(const std::string& slot) const {
  return cfg_.state_dir + "/logs/" + slot + ".log";
}

bool ProcessSlotRunner::Start(const std::string& slot,
                              const std::string& version, Instance* instance,
                              std::string* err) {
  int port = cfg_.PortOf(slot);
  if (port == 0) {
    *err = "unknown slot \"" + slot + "\"";
    return false;
  }
  SpawnSpec spec;
  spec.argv = InstanceArgv(cfg_, slot, version);
  spec.env = InstanceEnvironment(cfg_, slot, version, instance->tag);
  spec.workdir = cfg_.backend.workdir;
  spec.log_path = LogPath(slot);
  if (!env_.fs->MakeDirs(cfg_.state_dir + "/logs", 0755, err)) return false;
  std::string banner = "bgctl: starting version " + version + " in slot " +
                       slot + " on port " + std::to_string(port) + " at " +
                       FormatUtc(env_.clock->WallMs()) + "\n";
  if (!env_.fs->AppendLine(spec.log_path, banner, err)) return false;
  if (!env_.processes->Spawn(spec, &instance->process, err)) return false;
  Failpoint("spawned");
  return true;
}

bool ProcessSlotRunner::IsAlive(const Instance& instance) {
  return instance.process.pid != 0 && env_.processes->IsAlive(instance.process);
}

StopOutcome ProcessSlotRunner::Stop(const Instance& instance,
                                    int64_t* elapsed_ms, std::string* err) {
  return StopProcess(env_, cfg_.backend.drain, instance.process, elapsed_ms,
                     err);
}

bool ProcessSlotRunner::CpuTimeMs(const Instance& instance, int64_t* ms) {
  return env_.processes->CpuTimeMs(instance.process, ms);
}

std::string ProcessSlotRunner::RecentOutput(const std::string& slot,
                                            const Instance&, int max_lines) {
  return TailOfFile(env_.fs, LogPath(slot), max_lines);
}

bool ProcessSlotRunner::Adopt(Instance* instance) {
  // A recorded process that has exited stays exited (its children are not
  // the instance).
  if (instance->tag.empty() || instance->process.pid != 0) return false;
  std::vector<ProcessId> found =
      env_.processes->FindByEnv("BGCTL_INSTANCE", instance->tag);
  if (found.empty()) return false;
  // The spawned process leads its session; children it forked come later.
  auto oldest = std::min_element(
      found.begin(), found.end(), [](const ProcessId& a, const ProcessId& b) {
        return a.start_time < b.start_time ||
               (a.start_time == b.start_time && a.pid < b.pid);
      });
  instance->process = *oldest;
  return true;
}

bool ProcessSlotRunner::SetBootSlot(const std::string&, std::string*) {
  return true;
}

RunnerStatus ProcessSlotRunner::Status(const std::string&,
                                       const Instance& instance) {
  RunnerStatus s;
  bool alive = IsAlive(instance);
  s.state = alive ? "running" : "not running";
  s.pid = alive ? instance.process.pid : 0;
  return s;
}

StopOutcome StopProcess(Env env, const DrainConfig& drain,
                        const ProcessId& process, int64_t* elapsed_ms,
                        std::string* err) {
  const int64_t start = env.clock->NowMs();
  auto finish = [&](StopOutcome outcome) {
    *elapsed_ms = env.clock->NowMs() - start;
    return outcome;
  };
  if (process.pid == 0 || !env.processes->IsAlive(process))
    return finish(StopOutcome::kNotRunning);
  Failpoint("stopping");
  std::string signal_err;
  if (!env.processes->Signal(process, drain.signal, &signal_err)) {
    if (!env.processes->IsAlive(process)) return finish(StopOutcome::kExited);
    *err = signal_err;
    return finish(StopOutcome::kFailed);
  }
  if (WaitGone(env, process, start, drain.timeout_ms)) {
    return finish(StopOutcome::kExited);
  }
  if (!env.processes->Signal(process, SIGKILL, &signal_err)) {
    if (!env.processes->IsAlive(process)) return finish(StopOutcome::kExited);
    *err = signal_err;
    return finish(StopOutcome::kFailed);
  }
  if (WaitGone(env, process, env.clock->NowMs(), kKillWaitMs)) {
    return finish(StopOutcome::kKilled);
  }
  *err = "process " + std::to_string(process.pid) +
         " is still running 2s after SIGKILL";
  return finish(StopOutcome::kFailed);
}

}  // namespace bgctl
