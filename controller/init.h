// `bgctl init`: scaffolds bgctl for an nginx that already proxies the
// service. It reads the configuration nginx runs (`nginx -T`, parsed by
// nginx_conf.h), finds the location that proxies the service (a location
// with proxy_pass; --location and --server-name pick one when there are
// several), and writes into a folder, never over an existing file:
//
//   bgctl.yaml                   commented, pointing at the files below
//   nginx/upstream.conf          bgctl's upstream (it owns the file): until
//                                the first deploy it sends everything to the
//                                backend proxy_pass names now, when that is
//                                HOST:PORT with a numeric host (no downtime),
//                                else the placeholder (answers 502)
//   nginx/bgctl_probe.conf       location = /__bgctl/generation
//   nginx/bgctl_log_format.conf  nginx/bgctl_log_format.conf, compiled in
//
// and says which lines to add to which block of which file (InitEdit), so
// that `bgctl validate` passes once they are in.
#ifndef BGCTL_CONTROLLER_INIT_H_
#define BGCTL_CONTROLLER_INIT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/env.h"
#include "controller/nginx_conf.h"

namespace bgctl {

struct InitOptions {
  std::string dir = ".";  // where the files go
  std::string service;
  int blue_port = 0, green_port = 0;
  std::vector<std::string> command;            // the backend's argv
  std::vector<std::string> nginx = {"nginx"};  // program and options
  std::string location;       // --location: the location's path
  std::string server_name;    // --server-name: one of its names
  std::string upstream_name;  // "" : SERVICE_backend
  std::string access_log;     // "" : nginx/access.log in dir
  std::string health_path = "/healthz";
};

// Lines a user adds inside one block of their nginx configuration.
struct InitEdit {
  std::string file;   // where the block is written
  int line = 0;       // the line of the block's name (`http`, `server`, ...)
  std::string block;  // "http", "server (listen 8080, server_name app)", ...
  std::vector<std::string> add;  // each a whole directive, in order
  // A directive of the block to change: its line, its text, the new text.
  int replace_line = 0;
  std::string replace_text, replace_with;
};

struct InitPlan {
  std::string dir;               // absolute
  std::string config;            // dir + "/bgctl.yaml"
  std::vector<NginxFile> files;  // what to write: path (absolute), text
  std::vector<InitEdit> edits;
  std::string location;                  // WhereIs of the location found
  std::vector<std::string> notes;        // things the user should know
  std::string nginx_test, nginx_reload;  // bgctl.yaml's commands, joined
};

enum class InitOutcome {
  kOk,
  kUsage,   // bad flags, no or several locations, a file exists: exit 2
  kFailed,  // nginx -T failed, a file could not be written: exit 1
};

// The files init writes, absolute: bgctl.yaml, nginx/upstream.conf,
// nginx/bgctl_probe.conf, nginx/bgctl_log_format.conf under `dir`.
std::vector<std::string> InitTargets(const std::string& dir);

// Checks the options and plans everything from the dump of nginx -T (no
// side effect). The location: one whose block has a proxy_pass, filtered by
// --location (its path, or its arguments joined by a space) and
// --server-name (one of its server's names). None or several is kUsage,
// the message listing every candidate as "FILE:LINE server_name ...:
// location ... proxy_pass ...".
InitOutcome PlanInit(const InitOptions& options,
                     const std::vector<NginxFile>& dump, InitPlan* plan,
                     std::string* err);

// Dumps nginx's configuration (options.nginx + -T, in the working folder),
// plans, refuses when any file of the plan exists (kUsage, naming it, and
// nothing is written), then writes them (folders 0755, files 0644).
InitOutcome RunInit(const InitOptions& options, Env env, InitPlan* plan,
                    std::string* err);

// For humans: the files written, then each edit (file, line, block, the
// lines), then the commands to run.
std::string InitText(const InitPlan& plan);

// {"config", "files": [...], "location", "edits": [{"file", "line",
// "block", "add": [...], "replace": null | {"line", "text", "with"}}],
// "notes": [...], "next": [...]}.
nlohmann::json InitJson(const InitPlan& plan);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_INIT_H_
