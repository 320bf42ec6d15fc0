#include "controller/backend.h"

#include <signal.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace bgctl {

namespace {

const int64_t kPollMs = 10;
const int64_t kKillWaitMs = 2000;

std::string UtcTime(int64_t wall_ms) {
  time_t secs = static_cast<time_t>(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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

bool StartBackend(Env env, const Config& cfg, const std::string& slot,
                  const std::string& version, StartedBackend* out,
                  std::string* err) {
  int port = cfg.PortOf(slot);
  if (port == 0) {
    *err = "unknown slot \"" + slot + "\"";
    return false;
  }
  std::map<std::string, std::string> vars = {
      {"port", std::to_string(port)}, {"version", version}, {"slot", slot}};
  SpawnSpec spec;
  spec.argv = FillPlaceholders(cfg.backend.command, vars);
  spec.env = cfg.backend.env;
  spec.env["BGCTL_SLOT"] = slot;
  spec.env["BGCTL_VERSION"] = version;
  spec.env["BGCTL_PORT"] = std::to_string(port);
  spec.workdir = cfg.backend.workdir;
  std::string logs = cfg.state_dir + "/logs";
  spec.log_path = logs + "/" + slot + ".log";
  if (!env.fs->MakeDirs(logs, 0755, err)) return false;
  std::string banner = "bgctl: starting version " + version + " in slot " +
                       slot + " on port " + std::to_string(port) + " at " +
                       UtcTime(env.clock->WallMs()) + "\n";
  if (!env.fs->AppendLine(spec.log_path, banner, err)) return false;
  ProcessId process;
  if (!env.processes->Spawn(spec, &process, err)) return false;
  out->process = process;
  out->log_path = spec.log_path;
  return true;
}

StopOutcome StopBackend(Env env, const DrainConfig& drain,
                        const ProcessId& process, int64_t* elapsed_ms,
                        std::string* err) {
  const int64_t start = env.clock->NowMs();
  auto finish = [&](StopOutcome outcome) {
    *elapsed_ms = env.clock->NowMs() - start;
    return outcome;
  };
  if (!env.processes->IsAlive(process)) return finish(StopOutcome::kNotRunning);
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

const char* StopOutcomeName(StopOutcome outcome) {
  switch (outcome) {
    case StopOutcome::kNotRunning:
      return "not running";
    case StopOutcome::kExited:
      return "exited";
    case StopOutcome::kKilled:
      return "killed";
    case StopOutcome::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace bgctl
