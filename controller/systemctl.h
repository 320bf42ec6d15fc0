// systemctl and journalctl for the systemd runner. Every call is an argv
// list run through ProcessRunner::Run (never a shell), and every unit name
// comes from SlotUnitName (systemd_unit.h). A call that fails is an error
// naming the command, with systemctl's own message:
//   systemctl restart bgctl-demo-green.service: exit 1: Job for
//   bgctl-demo-green.service failed because the control process exited ...
#ifndef BGCTL_CONTROLLER_SYSTEMCTL_H_
#define BGCTL_CONTROLLER_SYSTEMCTL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controller/env.h"

namespace bgctl {

class Systemctl {
 public:
  // Timeout of the calls that do not wait for a service (show, reload,
  // enable, ...).
  static constexpr int64_t kShortTimeoutMs = 30000;

  // Keeps `runner`, which must outlive it.
  explicit Systemctl(ProcessRunner* runner) : runner_(runner) {}

  // Runs `systemctl ARGS...`; true when it exited 0. *output (if not null)
  // gets what it printed, with the final newline removed.
  bool Call(const std::vector<std::string>& args, int64_t timeout_ms,
            std::string* output, std::string* err);
  // `systemctl show UNIT -p A,B,...`: the properties asked for (a unit
  // systemd does not know answers too, with LoadState=not-found).
  bool Show(const std::string& unit, const std::vector<std::string>& props,
            std::map<std::string, std::string>* out, std::string* err);
  // `systemctl is-enabled UNIT`: "enabled", "disabled", "static", ...
  // (it exits non-zero for most answers; the answer is what it prints).
  // False only when it prints nothing.
  bool IsEnabled(const std::string& unit, std::string* state, std::string* err);
  // The last `lines` lines the unit's last run logged (journalctl
  // _SYSTEMD_INVOCATION_ID=ID + INVOCATION_ID=ID, ISO timestamps; -u UNIT
  // when systemd gives no InvocationID), or a line saying why they cannot
  // be read. "" when there are none.
  std::string JournalTail(const std::string& unit, int lines);

 private:
  ProcessRunner* runner_;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SYSTEMCTL_H_
