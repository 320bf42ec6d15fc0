#include "controller/lua_upstream.h"

#include "controller/names.h"
#include "controller/upstream_file.h"

namespace bgctl {

namespace {

const char kBalancerLine[] =
    "    balancer_by_lua_block { require(\"bgctl\").balance() }\n";

std::string Endpoints(const std::vector<Endpoint>& side) {
  std::string out;
  for (const Endpoint& e : side)
    out += (out.empty() ? "" : ",") + HostPort(e.host, e.port);
  return out;
}

// Puts the balancer line right after "upstream NAME {", before keepalive
// (nginx wants balancer_by_lua_block first).
std::string WithBalancer(const std::string& text,
                         const std::string& upstream_name) {
  std::string open = "upstream " + upstream_name + " {\n";
  size_t at = text.find(open);
  if (at == std::string::npos) return text;
  std::string out = text;
  out.insert(at + open.size(), kBalancerLine);
  return out;
}

std::string SplitMap(const std::string& line) {
  return "map $host $bgctl_split {\n    default \"" + line + "\";\n}\n";
}

}  // namespace

std::string LuaSplitLine(const TrafficSplit& split,
                         const LuaSwitchConfig& lua) {
  return "gen=" + std::to_string(split.generation) +
         ";w=" + std::to_string(EffectiveCanaryWeight(split)) +
         ";id=" + split.rollout_id + ";stable=" + Endpoints(split.stable) +
         ";canary=" + Endpoints(split.canary) +
         ";preview=" + lua.preview_header + ";sticky=" + lua.sticky_cookie;
}

bool CheckLuaSplit(const TrafficSplit& split, const LuaSwitchConfig& lua,
                   std::string* err) {
  if (!CheckServers(ServersFor(split), err)) return false;
  for (const auto* side : {&split.stable, &split.canary}) {
    std::vector<UpstreamServer> servers;
    for (const Endpoint& e : *side) servers.push_back({e.port, 1, e.host});
    if (!servers.empty() && !CheckServers(servers, err)) return false;
  }
  if (!split.rollout_id.empty() && !IsValidName(split.rollout_id)) {
    *err = "invalid split: rollout id \"" + split.rollout_id +
           "\" (use 1-64 characters of A-Z a-z 0-9 . _ -)";
    return false;
  }
  if ((!lua.preview_header.empty() && !IsHeaderName(lua.preview_header)) ||
      (!lua.sticky_cookie.empty() && !IsCookieName(lua.sticky_cookie))) {
    *err = "invalid split: preview header \"" + lua.preview_header +
           "\" or sticky cookie \"" + lua.sticky_cookie + "\"";
    return false;
  }
  return true;
}

std::string RenderLuaUpstream(const std::string& upstream_name,
                              const TrafficSplit& split,
                              const LuaSwitchConfig& lua, int keepalive) {
  std::string text = RenderUpstream(upstream_name, ServersFor(split),
                                    split.generation, keepalive);
  return WithBalancer(text, upstream_name) + SplitMap(LuaSplitLine(split, lua));
}

std::string RenderLuaPlaceholderUpstream(const std::string& upstream_name,
                                         int port) {
  return WithBalancer(RenderPlaceholderUpstream(upstream_name, port),
                      upstream_name) +
         SplitMap("");
}

}  // namespace bgctl
