// What the lua switch (nginx.switch: lua) writes and pushes: one line of
// text per split, read by nginx/lua/bgctl.lua, and the upstream file that
// carries it. The upstream file stays bgctl's source of truth: nginx reads
// the split from it (the map $bgctl_split) at every start and reload, and
// serves whichever is newer, that or the last push. nginx/README.md
// documents both.
#ifndef BGCTL_CONTROLLER_LUA_UPSTREAM_H_
#define BGCTL_CONTROLLER_LUA_UPSTREAM_H_

#include <string>

#include "controller/config.h"
#include "controller/traffic_switch.h"

namespace bgctl {

// The split as bgctl.lua reads it, for split.generation:
//   gen=N;w=W;id=ID;stable=H:P,H:P;canary=H:P;preview=HEADER;sticky=COOKIE
// W is EffectiveCanaryWeight(split); IPv6 hosts are written [H]:P; preview
// and sticky come from nginx.lua (empty when off).
std::string LuaSplitLine(const TrafficSplit& split, const LuaSwitchConfig& lua);

// Checks what bgctl.lua (and a map value in nginx's config) could not take:
// a rollout id or names outside their characters ([A-Za-z0-9._-] for the
// id, 1-64 characters), an endpoint that is not a numeric address and a
// port in 1..65535, no server at all.
bool CheckLuaSplit(const TrafficSplit& split, const LuaSwitchConfig& lua,
                   std::string* err);

// The upstream file for the lua switch: RenderUpstream() of ServersFor(split)
// (so ParseUpstreamFile and `status` read it as they read the reload
// switch's), with
//       balancer_by_lua_block { require("bgctl").balance() }
// as the first line of the upstream block, and after the file
//   map $host $bgctl_split {
//       default "LuaSplitLine(split)";
//   }
// Precondition: CheckLuaSplit.
// `keepalive` as RenderUpstream's (nginx.upstream_keepalive).
std::string RenderLuaUpstream(const std::string& upstream_name,
                              const TrafficSplit& split,
                              const LuaSwitchConfig& lua, int keepalive = 0);

// The placeholder before the first deploy (RenderPlaceholderUpstream with the
// balancer line and an empty $bgctl_split). `scripts/nginx-prefix.sh
// --switch lua` writes exactly this text.
std::string RenderLuaPlaceholderUpstream(const std::string& upstream_name,
                                         int port);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LUA_UPSTREAM_H_
