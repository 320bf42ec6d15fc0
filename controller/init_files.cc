#include "controller/init_files.h"

#include <nlohmann/json.hpp>

#include "controller/lua_upstream.h"

namespace bgctl {

const char kInitReadmeSection[] = "Putting it in front of your own nginx";

namespace {

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string YamlList(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv)
    out += (out.empty() ? "" : ", ") + Quoted(a);
  return "[" + out + "]";
}

std::string NginxSection(const InitOptions& o, const InitYaml& y) {
  std::string lua;
  if (y.switch_name == "lua")
    lua =
        "  # lua: traffic moves through nginx's Lua module without a reload\n"
        "  # (nginx/bgctl_lua.conf and the control location in\n"
        "  # nginx/bgctl_probe.conf); reload: rewrite, nginx -t, reload.\n";
  return "nginx:\n" + lua + "  switch: " + y.switch_name +
         "\n  # bgctl owns this file and rewrites it at every traffic switch;\n"
         "  # nginx includes it in the http block.\n"
         "  upstream_file: " +
         y.upstream_file + "\n  upstream_name: " + y.upstream_name +
         "\n  test_command: " + YamlList(NginxWith(o.nginx, {"-t"})) +
         "\n  reload_command: " +
         YamlList(NginxWith(o.nginx, {"-s", "reload"})) +
         "\n  # Written by nginx in bgctl's format "
         "(nginx/bgctl_log_format.conf);\n"
         "  # the canary analysis reads it, across logrotate's rotations.\n"
         "  access_log: " +
         y.access_log +
         "\n  # nginx/bgctl_probe.conf: answers the generation nginx serves.\n"
         "  probe_url: " +
         y.probe_url + "\n";
}

}  // namespace

std::vector<std::string> NginxWith(const std::vector<std::string>& nginx,
                                   const std::vector<std::string>& flags) {
  std::vector<std::string> argv = nginx;
  argv.insert(argv.begin() + 1, flags.begin(), flags.end());
  return argv;
}

std::string InitConfigText(const InitOptions& o, const InitYaml& y) {
  return "# bgctl.yaml for " + o.service +
         ", written by `bgctl init` from `nginx -T`.\n"
         "# It deploys the backend of the location at " +
         y.location +
         ".\n# Every key, commented: /usr/share/doc/bgctl/examples/bgctl.yaml;"
         "\n# how this file and nginx fit together: the README's section\n"
         "# \"" +
         kInitReadmeSection +
         "\" (/usr/share/doc/bgctl/README.md).\n"
         "# Relative paths are relative to this file's folder.\n"
         "service: " +
         o.service + "\nstate_dir: " + y.state_dir +
         "   # state.json, history, the lock, backend logs (mode 0700)\n\n" +
         NginxSection(o, y) +
         "\nslots:                   # one fixed loopback port per slot\n"
         "  blue: {port: " +
         std::to_string(o.blue_port) +
         "}\n  green: {port: " + std::to_string(o.green_port) +
         "}\n\nbackend:\n"
         "  # argv, never through a shell; {port} and {version} are filled "
         "in.\n  command: " +
         YamlList(o.command) +
         "\n  health:\n    path: " + Quoted(o.health_path) +
         "        # answers 200 once ready\n"
         "  # workdir, env, health timings, drain, runner: systemd: see the\n"
         "  # example.\n\n"
         "rollout:\n  steps:                 # percent of traffic on the "
         "canary\n"
         "    - {weight: 10, pause: 30s}\n    - {weight: 50, pause: 30s}\n"
         "    - {weight: 100}\n\n"
         "# Prometheus metrics for node_exporter's textfile collector (it "
         "reads\n# only files ending in .prom):\n# metrics:\n"
         "#   textfile: /var/lib/prometheus/node-exporter/bgctl-" +
         o.service + ".prom\n";
}

std::string InitProbeText(const std::string& listen_host, bool lua) {
  std::string allow = "    allow 127.0.0.1;\n";
  if (listen_host != "127.0.0.1") allow += "    allow " + listen_host + ";\n";
  std::string out =
      "# Written by `bgctl init`: bgctl's reload probe (nginx.probe_url).\n"
      "# It answers the generation of the upstream file this worker "
      "serves.\nlocation = /__bgctl/generation {\n" +
      allow +
      "    deny all;\n    access_log off;\n    default_type text/plain;\n"
      "    return 200 $bgctl_generation;\n}\n";
  if (!lua) return out;
  return out +
         "# The lua switch's control location (nginx.lua.control_url): GET\n"
         "# answers the split nginx serves, POST pushes a new one.\n"
         "location = /__bgctl/split {\n" +
         allow +
         "    deny all;\n    access_log off;\n"
         "    client_max_body_size 4k;\n    client_body_buffer_size 4k;\n"
         "    content_by_lua_block { require(\"bgctl\").control() }\n}\n";
}

std::string InitLuaText(const std::string& lua_dir, bool package_path) {
  std::string out =
      "# Written by `bgctl init` for nginx.switch: lua (in the http block).\n";
  if (package_path)
    out += "# Where bgctl.lua is (bgctl's package installs it there).\n" +
           std::string("lua_package_path \"") + lua_dir + "/?.lua;;\";\n";
  return out +
         "# The split bgctl pushes, shared by all workers, kept across "
         "reloads.\nlua_shared_dict bgctl 1m;\n";
}

std::string InitUpstreamText(const Config& c,
                             const std::vector<UpstreamServer>& current,
                             const ControlKey& key) {
  const NginxConfig& n = c.nginx;
  if (n.switch_kind == SwitchKind::kLua) {
    if (current.empty())
      return RenderLuaPlaceholderUpstream(n.upstream_name, c.blue_port);
    return RenderLuaServersUpstream(n.upstream_name, current, 0, key,
                                    ServiceEndpoints(c), n.upstream_keepalive);
  }
  if (current.empty())
    return RenderPlaceholderUpstream(n.upstream_name, c.blue_port);
  return RenderUpstream(n.upstream_name, current, 0, n.upstream_keepalive);
}

}  // namespace bgctl
