// What the lua switch (nginx.switch: lua) writes and pushes: one line of
// text per split, read by nginx/lua/bgctl.lua, and the upstream file that
// carries it. The upstream file stays bgctl's source of truth: nginx reads
// the split from it (the map $bgctl_split) at every start and reload, and
// serves whichever is newer, that or the last push. nginx/README.md
// documents both.
#ifndef BGCTL_CONTROLLER_LUA_UPSTREAM_H_
#define BGCTL_CONTROLLER_LUA_UPSTREAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/control_key.h"
#include "controller/traffic_switch.h"
#include "controller/upstream_file.h"

namespace bgctl {

// The endpoints a split of the service may name (the upstream file's
// $bgctl_control allow list): every slot's instance.
std::vector<Endpoint> ServiceEndpoints(const Config& config);

// The split as bgctl.lua reads it, for split.generation:
//   gen=N;w=W;id=ID;stable=H:P,H:P;canary=H:P;preview=HEADER;pvh=HASH;sticky=COOKIE
// W is EffectiveCanaryWeight(split); IPv6 hosts are written [H]:P; preview
// and sticky come from nginx.lua (empty when off); HASH is
// Sha1Hex(PreviewToken(key, rollout id)) when the preview header is on and
// the split has a canary and a rollout id, else empty.
std::string LuaSplitLine(const TrafficSplit& split, const LuaSwitchConfig& lua,
                         const ControlKey& key);

// Who may push (the upstream file's $bgctl_control):
//   key=SHA1HEX;allow=H:P,H:P
// the key's hash (never the key) and the endpoints a split may name.
std::string LuaControlLine(const ControlKey& key,
                           const std::vector<Endpoint>& allowed);

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
//   map $host $bgctl_control {
//       default "LuaControlLine(key, allowed)";
//   }
// Precondition: CheckLuaSplit.
// `keepalive` as RenderUpstream's (nginx.upstream_keepalive).
std::string RenderLuaUpstream(const std::string& upstream_name,
                              const TrafficSplit& split,
                              const LuaSwitchConfig& lua, const ControlKey& key,
                              const std::vector<Endpoint>& allowed,
                              int keepalive = 0);

// The same file with `servers` as they are and no split (`default "";`):
// nginx balances over the server lines until the first push. What the lua
// switch installs, with one confirmed reload, when nginx's loaded file is
// not one it can push to (a reload switch's file, a file from before
// control keys, another key): the servers that serve today keep serving.
// Precondition: CheckServers(servers).
std::string RenderLuaServersUpstream(const std::string& upstream_name,
                                     const std::vector<UpstreamServer>& servers,
                                     uint64_t generation, const ControlKey& key,
                                     const std::vector<Endpoint>& allowed,
                                     int keepalive = 0);

// The placeholder of a new nginx prefix, which nothing served before
// (RenderPlaceholderUpstream with the balancer line and an empty
// $bgctl_split, no control line: bgctl's first switch migrates it).
// `scripts/nginx-prefix.sh --switch lua` writes exactly this text.
std::string RenderLuaPlaceholderUpstream(const std::string& upstream_name,
                                         int port);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LUA_UPSTREAM_H_
