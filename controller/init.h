// `bgctl init`: scaffolds bgctl for an nginx that already proxies the
// service. It reads the configuration nginx runs (`nginx -T`, parsed by
// nginx_conf.h), finds the location that proxies the service (a location
// with proxy_pass; --location and --server-name pick one when there are
// several), picks the traffic switch (lua wherever nginx's Lua module is
// loaded or installed, else reload), and writes, never over an existing
// file, in Debian's layout by default (configuration in /etc, what changes
// at run time in /var):
//
//   DIR/bgctl.yaml                  commented, pointing at the files below
//                                   (DIR: /etc/bgctl/SERVICE)
//   DIR/nginx/bgctl_probe.conf      location = /__bgctl/generation, and for
//                                   the lua switch the control location
//   DIR/nginx/bgctl_log_format.conf nginx/bgctl_log_format.conf, compiled in
//   DIR/nginx/bgctl_lua.conf        lua switch only: lua_package_path (the
//                                   installed bgctl.lua) and the shared dict
//   STATE_DIR/upstream.conf         bgctl's upstream (it owns and rewrites
//                                   the file; STATE_DIR: /var/lib/bgctl/
//                                   SERVICE, mode 0700): until the first
//                                   deploy it sends everything to the
//                                   backend proxy_pass names now when that
//                                   is HOST:PORT with a numeric host (no
//                                   request fails), else the placeholder
//
// with the access log at /var/log/nginx/SERVICE.bgctl.log (Debian's
// logrotate rule for nginx rotates /var/log/nginx/*.log), and says which
// lines to add to which block of which file (InitEdit), so that `bgctl
// validate` passes once they are in.
#ifndef BGCTL_CONTROLLER_INIT_H_
#define BGCTL_CONTROLLER_INIT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/control_key.h"
#include "controller/env.h"
#include "controller/nginx_conf.h"
#include "controller/sockets.h"

namespace bgctl {

// Which traffic switch init configures (--switch).
enum class InitSwitch {
  kAuto,    // lua when the Lua module is loaded or installed, else reload
  kReload,  // nginx.switch: reload
  kLua,     // nginx.switch: lua; the module must be loaded or installed
};

struct InitOptions {
  std::string dir;  // "": /etc/bgctl/SERVICE; relative: to the working folder
  std::string service;
  int blue_port = 0, green_port = 0;
  std::vector<std::string> command;            // the backend's argv
  std::vector<std::string> nginx = {"nginx"};  // program and options
  std::string location;       // --location: the location's path
  std::string server_name;    // --server-name: one of its names
  std::string upstream_name;  // "" : SERVICE_backend
  // "": /var/lib/bgctl/SERVICE and /var/log/nginx/SERVICE.bgctl.log;
  // relative: to `dir`, as bgctl.yaml reads them.
  std::string state_dir;
  std::string access_log;
  std::string health_path = "/healthz";
  InitSwitch switch_kind = InitSwitch::kAuto;
  // Where the Lua module's files are (Debian's), and the folder that holds
  // bgctl.lua for lua_package_path (ShippedLuaDir).
  std::string modules_dir = "/usr/lib/nginx/modules";
  std::string lua_dir = "/usr/share/bgctl/nginx/lua";
};

// What init found on this machine besides nginx -T (RunInit reads it).
struct InitHost {
  bool lua_module_installed = false;  // modules_dir has NDK and the module
  std::vector<int> busy_ports;        // slot ports something listens on
  // The lua switch's control key (control_key.h): the one in the state
  // folder, or a new one (control_key_new) that RunInit writes there with
  // the other files. The lua upstream file carries its hash.
  ControlKey control_key;
  bool control_key_new = false;
};

// Lines a user adds inside one block of their nginx configuration, or one
// line they change.
struct InitEdit {
  std::string file;   // where the block is written
  int line = 0;       // the line of the block's name; 0: the top of `file`
  std::string block;  // "main", "http", "server (listen 8080, ...)", ...
  std::vector<std::string> add;  // each a whole directive, in order
  // A directive of the block to change: its line, its text, the new text.
  int replace_line = 0;
  std::string replace_text, replace_with;
};

struct InitPlan {
  std::string dir;               // absolute
  std::string config;            // dir + "/bgctl.yaml"
  std::string state_dir;         // absolute; created with mode 0700
  std::string upstream_file;     // absolute, in state_dir
  std::string access_log;        // absolute
  std::string switch_name;       // "reload" or "lua"
  std::vector<NginxFile> files;  // what to write: path (absolute), text
  std::vector<InitEdit> edits;
  std::string location;                  // WhereIs of the location found
  std::vector<std::string> notes;        // things the user should know
  std::vector<std::string> warnings;     // what works but costs requests
  std::string nginx_test, nginx_reload;  // bgctl.yaml's commands, joined
};

enum class InitOutcome {
  kOk,
  kUsage,   // bad flags, no or several locations, a file exists: exit 2
  kFailed,  // nginx -T failed, a file could not be written: exit 1
};

// The files init may write, absolute: bgctl.yaml, nginx/bgctl_probe.conf,
// nginx/bgctl_log_format.conf, nginx/bgctl_lua.conf under the config
// folder, then upstream.conf in the state folder.
std::vector<std::string> InitTargets(const InitOptions& options);

// The folder of bgctl.lua for lua_package_path, for the bgctl binary at
// `exe`: the package's (EXE/../share/bgctl/nginx/lua, which is
// /usr/share/bgctl/nginx/lua for /usr/bin/bgctl and holds for an unpacked
// package too), else a source tree's (EXE/../nginx/lua: bgctl run from
// build/), else /usr/share/bgctl/nginx/lua.
std::string ShippedLuaDir(FileSystem* fs, const std::string& exe);

// Checks the options and plans everything from the dump of nginx -T (no
// side effect). The location: one whose block has a proxy_pass, filtered by
// --location (its path, or its arguments joined by a space) and
// --server-name (one of its server's names). None or several is kUsage,
// the message listing every candidate as "FILE:LINE server_name ...:
// location ... proxy_pass ...".
InitOutcome PlanInit(const InitOptions& options,
                     const std::vector<NginxFile>& dump, const InitHost& host,
                     InitPlan* plan, std::string* err);

// Dumps nginx's configuration (options.nginx + -T, in the working folder),
// looks for the Lua module's files and for processes listening on the slot
// ports (`sockets`; null: not looked for), plans, refuses when any file of
// the plan exists (kUsage, naming it, and nothing is written), then writes
// them (config folders and the access log's 0755, the state folder 0700,
// files 0644).
InitOutcome RunInit(const InitOptions& options, Env env,
                    SocketInspector* sockets, InitPlan* plan, std::string* err);

// For humans: the files written, then each edit (file, line, block; the
// line to replace apart from the lines to add), warnings and notes, then
// the commands to run.
std::string InitText(const InitPlan& plan);

// {"config", "switch", "state_dir", "access_log", "files": [...],
// "location", "edits": [{"file", "line", "block", "add": [...], "replace":
// null | {"line", "text", "with"}}], "warnings": [...], "notes": [...],
// "next": [...]}. An edit with line 0 goes at the top of its file.
nlohmann::json InitJson(const InitPlan& plan);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_INIT_H_
