#include "controller/traffic_switch.h"

#include <cstdint>

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

bool TrafficSwitch::TakeoverFloor(uint64_t served, uint64_t* floor,
                                  std::string* err) {
  if (served == UINT64_MAX) {
    *err = "nginx serves generation " + std::to_string(served) +
           ", the largest there is: no newer split can replace it";
    return false;
  }
  *floor = served + 1;
  return true;
}

std::unique_ptr<TrafficSwitch> MakeTrafficSwitch(const Config& config,
                                                 Env env) {
  switch (config.nginx.switch_kind) {
    case SwitchKind::kReload:
      break;
    case SwitchKind::kLua:
      return std::make_unique<LuaSwitch>(config, env, RealHttpPoster());
  }
  return std::make_unique<ReloadSwitch>(config.nginx, config.dir, env);
}

}  // namespace bgctl
