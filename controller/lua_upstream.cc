#include "controller/lua_upstream.h"

#include "controller/names.h"

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

std::string Map(const std::string& variable, const std::string& value) {
  return "map $host $" + variable + " {\n    default \"" + value + "\";\n}\n";
}

std::string SplitMap(const std::string& line) {
  return Map("bgctl_split", line);
}

// An upstream file RenderUpstream wrote, made a lua one: the balancer
// line, the split and the control line.
std::string Lua(const std::string& text, const std::string& upstream_name,
                const std::string& split_line,
                const std::string& control_line) {
  return WithBalancer(text, upstream_name) + SplitMap(split_line) +
         Map("bgctl_control", control_line);
}

}  // namespace

std::vector<Endpoint> ServiceEndpoints(const Config& config) {
  return {{"127.0.0.1", config.blue_port}, {"127.0.0.1", config.green_port}};
}

std::string LuaSplitLine(const TrafficSplit& split, const LuaSwitchConfig& lua,
                         const ControlKey& key) {
  const bool preview = !lua.preview_header.empty() && !split.canary.empty() &&
                       !split.rollout_id.empty();
  return "gen=" + std::to_string(split.generation) +
         ";w=" + std::to_string(EffectiveCanaryWeight(split)) +
         ";id=" + split.rollout_id + ";stable=" + Endpoints(split.stable) +
         ";canary=" + Endpoints(split.canary) +
         ";preview=" + lua.preview_header + ";pvh=" +
         (preview ? Sha1Hex(PreviewToken(key, split.rollout_id)) : "") +
         ";sticky=" + lua.sticky_cookie;
}

std::string LuaControlLine(const ControlKey& key,
                           const std::vector<Endpoint>& allowed) {
  return "key=" + key.hash + ";allow=" + Endpoints(allowed);
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
                              const LuaSwitchConfig& lua, const ControlKey& key,
                              const std::vector<Endpoint>& allowed,
                              int keepalive) {
  return Lua(RenderUpstream(upstream_name, ServersFor(split), split.generation,
                            keepalive),
             upstream_name, LuaSplitLine(split, lua, key),
             LuaControlLine(key, allowed));
}

std::string RenderLuaServersUpstream(const std::string& upstream_name,
                                     const std::vector<UpstreamServer>& servers,
                                     uint64_t generation, const ControlKey& key,
                                     const std::vector<Endpoint>& allowed,
                                     int keepalive) {
  return Lua(RenderUpstream(upstream_name, servers, generation, keepalive),
             upstream_name, "", LuaControlLine(key, allowed));
}

std::string RenderLuaPlaceholderUpstream(const std::string& upstream_name,
                                         int port) {
  return WithBalancer(RenderPlaceholderUpstream(upstream_name, port),
                      upstream_name) +
         SplitMap("");
}

}  // namespace bgctl
