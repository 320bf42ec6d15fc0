// Starting and stopping the backend of one slot. Uses only the Env
// interfaces (Clock, FileSystem, ProcessRunner).
#ifndef BGCTL_CONTROLLER_BACKEND_H_
#define BGCTL_CONTROLLER_BACKEND_H_

#include <cstdint>
#include <string>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

struct StartedBackend {
  ProcessId process;
  std::string log_path;  // state_dir/logs/<slot>.log
};

// Starts cfg.backend.command for `slot` ("blue" or "green") and `version`:
// fills {port} {version} {slot} in each argv element, adds cfg.backend.env
// and BGCTL_SLOT, BGCTL_VERSION, BGCTL_PORT to the environment, runs in
// cfg.backend.workdir, and appends stdout+stderr to state_dir/logs/<slot>.log
// (creating state_dir/logs, mode 0755). Before the start one line is appended
// to that log: "bgctl: starting version V in slot S on port P at <UTC time>".
// Returns as soon as the process is started (not healthy: see health.h).
// Errors: `unknown slot "x"`, the folder or log errors, or the spawn error
// (`cannot start "xyz": No such file or directory`).
bool StartBackend(Env env, const Config& cfg, const std::string& slot,
                  const std::string& version, StartedBackend* out,
                  std::string* err);

enum class StopOutcome {
  kNotRunning,  // not alive when StopBackend was called
  kExited,      // exited within drain.timeout_ms after drain.signal
  kKilled,      // still running at the drain timeout; SIGKILL ended it
  kFailed,      // could not be signalled, or still alive 2 s after SIGKILL
};

// Sends drain.signal to the process (and its group), waits up to
// drain.timeout_ms for it to exit (checking IsAlive every 10 ms), then sends
// SIGKILL and waits up to 2 s more. *elapsed_ms is the time from the call to
// the return. *err is set only for kFailed. Safe to call on a process that
// is already gone (kNotRunning).
StopOutcome StopBackend(Env env, const DrainConfig& drain,
                        const ProcessId& process, int64_t* elapsed_ms,
                        std::string* err);

// "not running", "exited", "killed", "failed": for messages and JSON.
const char* StopOutcomeName(StopOutcome outcome);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_BACKEND_H_
