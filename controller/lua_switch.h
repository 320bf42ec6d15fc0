// nginx.switch: lua, the traffic switch that never reloads nginx: it writes
// the upstream file (lua_upstream.h; what nginx serves at its next start or
// reload), pushes the same split into nginx's lua_shared_dict through the
// loopback-only control location (nginx.lua.control_url, served by
// nginx/lua/bgctl.lua) and reads it back over a new connection. Needs
// nginx's Lua module and the lines nginx/README.md lists. All side effects
// go through env.h.
#ifndef BGCTL_CONTROLLER_LUA_SWITCH_H_
#define BGCTL_CONTROLLER_LUA_SWITCH_H_

#include <cstdint>
#include <string>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/http_post.h"
#include "controller/traffic_switch.h"

namespace bgctl {

// Keeps pointers from `env` and `post` (the push); the config is copied.
class LuaSwitch : public TrafficSwitch {
 public:
  LuaSwitch(const NginxConfig& cfg, Env env, HttpPoster* post);

  const char* Name() const override { return "lua"; }
  // Makes nginx serve `split` (generation split.generation):
  //  1. checks it (CheckLuaSplit): kRejected before anything is written;
  //  2. writes the upstream file atomically (RenderLuaUpstream);
  //  3. POSTs LuaSplitLine(split) to the control URL. nginx refusing it
  //     (any 4xx: an older generation, a split it cannot read, a config
  //     without $bgctl_split, the location missing or denied) puts the
  //     previous file back byte for byte (or removes it when there was
  //     none) and returns kRejected with
  //       "nginx refused the split: HTTP 409: <nginx's answer>";
  //  4. reads the split served back (GET over a new connection); kConfirmed
  //     (confirmed_by "exact") when it is exactly the line pushed.
  // kUnknown otherwise, with the new file left in place (nginx serves it at
  // its next start): no answer to the push ("nginx lua push failed: E"),
  // another status, a read-back that fails or names another split
  // ("nginx lua split not confirmed: control answered generation G,
  // expected N"), or a refused push whose file could not be put back.
  SwitchResult Apply(const TrafficSplit& split) override;
  // The generation of the split nginx serves now (0 before any), from the
  // control URL. False with *err when it cannot be reached or answers
  // anything else.
  bool ServedGeneration(uint64_t* generation, std::string* err) override;

  // The time limit of each push and read-back (default 2000 ms).
  void set_timeout_ms(int64_t ms) { timeout_ms_ = ms; }

 private:
  // One GET of the control URL: true with the served line ("none" before
  // any split) when it answered 200; otherwise *err says what it got.
  bool ReadServed(std::string* line, std::string* err);
  // Steps 2-4 of Apply.
  SwitchOutcome Install(const TrafficSplit& split, std::string* err);

  NginxConfig cfg_;
  Env env_;
  HttpPoster* post_;
  int64_t timeout_ms_ = 2000;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LUA_SWITCH_H_
