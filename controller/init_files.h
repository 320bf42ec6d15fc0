// The texts of the files `bgctl init` writes (init.h): bgctl.yaml, the
// snippets for nginx and the upstream file before the first deploy.
// Internal to init.cc and its tests.
#ifndef BGCTL_CONTROLLER_INIT_FILES_H_
#define BGCTL_CONTROLLER_INIT_FILES_H_

#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/control_key.h"
#include "controller/init.h"
#include "controller/upstream_file.h"

namespace bgctl {

// What bgctl.yaml says, as written into it (relative paths stay relative
// to the config's folder).
struct InitYaml {
  std::string switch_name;  // "reload" or "lua"
  std::string state_dir, upstream_file, access_log;
  std::string upstream_name;
  std::string probe_url;
  std::string location;  // WhereIs of the location, for the header
};

// The README section bgctl.yaml sends its reader to (a test checks that
// README.md has it).
extern const char kInitReadmeSection[];

// `nginx` (program and options) with `flags` after the program: the
// commands bgctl.yaml gets (-t, -s reload) and init's own nginx -T.
std::vector<std::string> NginxWith(const std::vector<std::string>& nginx,
                                   const std::vector<std::string>& flags);

// bgctl.yaml, commented.
std::string InitConfigText(const InitOptions& options, const InitYaml& yaml);

// nginx/bgctl_probe.conf: the probe location, allowed from 127.0.0.1 and
// `listen_host`; with `lua`, the lua switch's control location too.
std::string InitProbeText(const std::string& listen_host, bool lua);

// nginx/bgctl_lua.conf (http block): lua_package_path with `lua_dir`
// (left out when `package_path` is false: the http block has one of its
// own, which an edit extends) and `lua_shared_dict bgctl 1m`.
std::string InitLuaText(const std::string& lua_dir, bool package_path);

// The upstream file before the first deploy, rendered as the configured
// switch renders it, generation 0: `current` (the backend that serves now)
// takes all traffic; with no current server, the switch's placeholder. The
// lua switch's file (RenderLuaServersUpstream: the server lines, no split)
// carries `key`'s hash, so the first deploy pushes without a reload.
std::string InitUpstreamText(const Config& config,
                             const std::vector<UpstreamServer>& current,
                             const ControlKey& key);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_INIT_FILES_H_
