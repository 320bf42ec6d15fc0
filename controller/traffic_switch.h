// Where traffic goes: the one thing the rollout asks of nginx is "put W% on
// the canary and tell me whether it holds". Two implementations, chosen once
// from nginx.switch by MakeTrafficSwitch:
//   reload  rewrite the upstream file, `nginx -t`, reload, confirm through
//           the generation probe and nginx's processes (reload_switch.cc;
//           works with any nginx);
//   lua     write the upstream file (nginx's source of truth at its next
//           start or reload), then push the split into a lua_shared_dict
//           through a loopback-only location and read it back: no reload
//           (lua_switch.cc; needs nginx's Lua module).
// The rollout never knows which one it has.
#ifndef BGCTL_CONTROLLER_TRAFFIC_SWITCH_H_
#define BGCTL_CONTROLLER_TRAFFIC_SWITCH_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

// One backend server. A slot holds one today; a list leaves room for
// replicas (several ports, possibly on other hosts) without a rewrite.
struct Endpoint {
  std::string host = "127.0.0.1";  // a numeric address
  int port = 0;
};

// The split the rollout wants nginx to serve.
struct TrafficSplit {
  std::vector<Endpoint> stable;  // empty before the first deploy
  std::vector<Endpoint> canary;  // empty when no rollout is under way
  // Percent of requests on the canary, 0..100. Without a canary it is taken
  // as 0, without a stable side as 100.
  int canary_weight = 0;
  // Reserved by the caller (state.json) before the switch; greater than
  // every number nginx may have seen.
  uint64_t generation = 0;
  // Names the rollout for sticky routing (lua switch); "" when none.
  std::string rollout_id;
  // nginx serves a generation ahead of bgctl's own state (a restored
  // state, a split left by an older version): this split replaces it
  // although its generation is lower (SwitchTraffic sets it; the lua
  // switch pushes it flagged, within TakeoverFloor).
  bool takeover = false;
};

// The weight a split really puts on the canary (canary_weight clamped by
// what exists: 0 without a canary, 100 without a stable side).
// Inline: the upstream file's renderer (and its fuzz target) needs it
// without the switches.
inline int EffectiveCanaryWeight(const TrafficSplit& split) {
  if (split.canary.empty()) return 0;
  if (split.stable.empty()) return 100;
  return std::clamp(split.canary_weight, 0, 100);
}

enum class SwitchOutcome {
  kConfirmed,  // nginx serves the split now, confirmed
  kRejected,   // refused before it took effect (config test, a failed
               // reload command, a push nginx refused): what nginx served
               // before still holds and the upstream file is back as it was
  kUnknown,    // it may or may not be in effect (not confirmed in time,
               // nginx gone): the upstream file on disk holds the new split
};

// "confirmed", "rejected", "unknown".
const char* SwitchOutcomeName(SwitchOutcome outcome);

struct SwitchResult {
  SwitchOutcome outcome = SwitchOutcome::kUnknown;
  std::string error;       // why, unless confirmed
  int64_t elapsed_ms = 0;  // from the call to the return
  // How it was confirmed, for the event line: "exact" (nginx's processes or
  // the shared dict), "settle" (the reload switch's time fallback).
  std::string confirmed_by;
  // What the switch did besides, for an event line ("" when nothing): the
  // lua switch's migration of nginx's loaded upstream file.
  std::string note;
};

class TrafficSwitch {
 public:
  virtual ~TrafficSwitch() = default;
  // "reload" or "lua".
  virtual const char* Name() const = 0;
  // Makes nginx serve `split`. Invalid splits (no server at all, a port
  // outside 1..65535) are kRejected before anything is written.
  virtual SwitchResult Apply(const TrafficSplit& split) = 0;
  // The generation nginx serves now, asked over a new connection. False
  // with *err when nginx cannot be reached or answers no number.
  virtual bool ServedGeneration(uint64_t* generation, std::string* err) = 0;
  // True when nginx may send a request to a side whatever its weight (the
  // lua switch's preview header and sticky cookie): then a split must stop
  // naming an instance before it stops, also at 0%.
  virtual bool PinsRequests() const { return false; }
  // nginx serves `served`, ahead of bgctl's state: the least generation a
  // takeover split (TrafficSplit::takeover) must carry to be served. By
  // default served + 1 (nginx has nothing but that number to compare
  // with); false with *err when there is none (served is 2^64-1).
  virtual bool TakeoverFloor(uint64_t served, uint64_t* floor,
                             std::string* err);
};

// The switch nginx.switch names. Keeps pointers from `env`.
std::unique_ptr<TrafficSwitch> MakeTrafficSwitch(const Config& config, Env env);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_TRAFFIC_SWITCH_H_
