#include "controller/slot_runner.h"

#include <sys/random.h>
#include <unistd.h>

#include <cstdio>

#include "controller/placeholders.h"
#include "controller/process_slot_runner.h"
#include "controller/state.h"
#include "controller/systemd_slot_runner.h"

namespace bgctl {

std::unique_ptr<SlotRunner> MakeSlotRunner(const Config& config, Env env) {
  switch (config.backend.runner) {
    case RunnerKind::kProcess:
      break;
    case RunnerKind::kSystemd:
      return std::make_unique<SystemdSlotRunner>(config, env);
  }
  return std::make_unique<ProcessSlotRunner>(config, env);
}

RunnerStatuses SlotStatuses(SlotRunner* runner, const State& state) {
  RunnerStatuses out;
  for (const std::string& slot :
       {state.stable_slot, state.canary_slot, state.previous_slot}) {
    if (slot.empty() || out.count(slot)) continue;
    out[slot] = runner->Status(slot, state.Slot(slot).instance);
  }
  return out;
}

std::string NewInstanceTag() {
  unsigned char bytes[8] = {0};
  if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
    // Practically never: fall back to something unique on this host.
    uint64_t v = reinterpret_cast<uintptr_t>(&bytes) ^ getpid();
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(v >>= 8);
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  return hex;
}

std::vector<std::string> InstanceArgv(const Config& config,
                                      const std::string& slot,
                                      const std::string& version) {
  return FillPlaceholders(config.backend.command,
                          {{"port", std::to_string(config.PortOf(slot))},
                           {"version", version},
                           {"slot", slot}});
}

std::map<std::string, std::string> InstanceEnvironment(
    const Config& config, const std::string& slot, const std::string& version,
    const std::string& tag) {
  std::map<std::string, std::string> env = config.backend.env;
  env["BGCTL_SLOT"] = slot;
  env["BGCTL_VERSION"] = version;
  env["BGCTL_PORT"] = std::to_string(config.PortOf(slot));
  env["BGCTL_INSTANCE"] = tag;
  return env;
}

}  // namespace bgctl
