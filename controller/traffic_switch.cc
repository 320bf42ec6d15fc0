#include "controller/traffic_switch.h"

#include "controller/lua_switch.h"
#include "controller/reload_switch.h"

namespace bgctl {

const char* SwitchOutcomeName(SwitchOutcome outcome) {
  switch (outcome) {
    case SwitchOutcome::kConfirmed:
      return "confirmed";
    case SwitchOutcome::kRejected:
      return "rejected";
    case SwitchOutcome::kUnknown:
      break;
  }
  return "unknown";
}

std::unique_ptr<TrafficSwitch> MakeTrafficSwitch(const Config& config,
                                                 Env env) {
  switch (config.nginx.switch_kind) {
    case SwitchKind::kReload:
      break;
    case SwitchKind::kLua:
      return std::make_unique<LuaSwitch>(config.nginx, env, RealHttpPoster());
  }
  return std::make_unique<ReloadSwitch>(config.nginx, config.dir, env);
}

}  // namespace bgctl
