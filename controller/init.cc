#include "controller/init.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "controller/config.h"
#include "controller/init_files.h"
#include "controller/init_nginx.h"
#include "controller/names.h"
#include "controller/nginx_checks.h"
#include "controller/sockets.h"
#include "controller/upstream_file.h"
#include "log_format_conf.h"  // generated from nginx/bgctl_log_format.conf

namespace bgctl {
namespace {

using Parents = std::vector<const NginxDirective*>;

bool HasPortPlaceholder(const std::vector<std::string>& argv) {
  for (const std::string& a : argv)
    if (a.find("{port}") != std::string::npos) return true;
  return false;
}

bool CheckOptions(const InitOptions& o, std::string* err) {
  if (!IsValidName(o.service))
    *err = "--service: invalid name \"" + o.service +
           "\": use 1-64 characters of A-Z a-z 0-9 . _ -";
  else if (o.blue_port < 1 || o.blue_port > 65535 || o.green_port < 1 ||
           o.green_port > 65535 || o.blue_port == o.green_port)
    *err = "--blue-port and --green-port: two different ports in 1-65535";
  else if (o.command.empty())
    *err =
        "--command: the backend's command line is required, e.g. "
        "--command '/srv/app/bin/app --port {port}'";
  else if (!HasPortPlaceholder(o.command))
    *err = "--command: no {port} in \"" + Join(o.command) +
           "\": each slot runs on its own port, which bgctl puts where "
           "{port} stands, e.g. --command '/srv/app/bin/app --port {port}'";
  else if (o.nginx.empty())
    *err = "--nginx: the nginx program is required";
  else
    return true;
  return false;
}

// `path` made absolute against `base` (when relative) and normal, without
// a trailing '/'.
std::string AbsoluteIn(const std::string& base, const std::string& path) {
  std::filesystem::path p = path;
  if (p.is_relative()) p = std::filesystem::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Where init puts things: Debian's layout unless the flags say otherwise.
struct Layout {
  std::string dir;                    // absolute
  std::string state_yaml, log_yaml;   // as bgctl.yaml says them
  std::string state_dir, access_log;  // absolute
  std::string upstream_yaml, upstream_file;
};

Layout LayoutOf(const InitOptions& o) {
  Layout l;
  l.dir = AbsoluteIn(std::filesystem::current_path().string(),
                     o.dir.empty() ? "/etc/bgctl/" + o.service : o.dir);
  l.state_yaml =
      o.state_dir.empty() ? "/var/lib/bgctl/" + o.service : o.state_dir;
  l.log_yaml = o.access_log.empty()
                   ? "/var/log/nginx/" + o.service + ".bgctl.log"
                   : o.access_log;
  l.state_dir = AbsoluteIn(l.dir, l.state_yaml);
  l.access_log = AbsoluteIn(l.dir, l.log_yaml);
  l.upstream_yaml = l.state_yaml + "/upstream.conf";
  l.upstream_file = l.state_dir + "/upstream.conf";
  return l;
}

// The switch init configures (*lua), and the load_module lines nginx still
// needs for it. False (kUsage) when --switch lua finds the module nowhere.
bool ChooseSwitch(const InitOptions& o, const std::vector<NginxDirective>& root,
                  const InitHost& host, bool* lua,
                  std::vector<std::string>* load_lines, std::string* err) {
  const bool loaded = LoadsModule(root, "ngx_http_lua_module.so");
  const bool available = loaded || host.lua_module_installed;
  if (o.switch_kind == InitSwitch::kLua && !available) {
    *err = "--switch lua: nginx does not load the Lua module and " +
           o.modules_dir +
           " does not have it (Debian: apt install libnginx-mod-http-lua)";
    return false;
  }
  *lua = o.switch_kind == InitSwitch::kLua ||
         (o.switch_kind == InitSwitch::kAuto && available);
  if (!*lua || loaded) return true;
  if (!LoadsModule(root, "ndk_http_module.so"))
    load_lines->push_back("load_module " + o.modules_dir +
                          "/ndk_http_module.so;");
  load_lines->push_back("load_module " + o.modules_dir +
                        "/ngx_http_lua_module.so;");
  return true;
}

}  // namespace

std::vector<std::string> InitTargets(const InitOptions& o) {
  const Layout l = LayoutOf(o);
  return {l.dir + "/bgctl.yaml", l.dir + "/nginx/bgctl_probe.conf",
          l.dir + "/nginx/bgctl_log_format.conf",
          l.dir + "/nginx/bgctl_lua.conf", l.upstream_file};
}

std::string ShippedLuaDir(FileSystem* fs, const std::string& exe) {
  const std::string bin = exe.substr(0, exe.rfind('/') + 1);
  for (const char* rel : {"../share/bgctl/nginx/lua", "../nginx/lua"}) {
    const std::string dir = AbsoluteIn(bin.empty() ? "." : bin, rel);
    if (fs->Exists(dir + "/bgctl.lua")) return dir;
  }
  return "/usr/share/bgctl/nginx/lua";
}

namespace {

// The slot ports must be free: not the backend that serves now, nor
// anything else listening.
bool CheckSlotPorts(const InitOptions& o, const InitLocation& c,
                    const std::vector<UpstreamServer>& current,
                    const InitHost& host, std::string* err) {
  for (const UpstreamServer& s : current)
    if (s.port == o.blue_port || s.port == o.green_port) {
      *err = "--blue-port/--green-port: " + std::to_string(s.port) +
             " is the port of the backend that serves now (" +
             WhereIs(*c.proxy_pass) + "): pick two free ports";
      return false;
    }
  for (int port : {o.blue_port, o.green_port})
    if (std::count(host.busy_ports.begin(), host.busy_ports.end(), port)) {
      *err = std::string(port == o.blue_port ? "--blue-port" : "--green-port") +
             ": a process listens on port " + std::to_string(port) +
             " already; each slot needs a port of its own that nothing else "
             "uses";
      return false;
    }
  return true;
}

// The http block's lua_package_path, if it has one (nginx refuses a second).
const NginxDirective* PackagePath(const InitLocation& c) {
  std::vector<const NginxDirective*> p = Children(*c.http, "lua_package_path");
  return p.empty() ? nullptr : p.back();
}

// What init found in nginx's configuration for the location it adopts.
struct Adoption {
  InitLocation c;
  const NginxDirective* probe_server = nullptr;  // gets bgctl_probe.conf
  std::string main_file;                         // nginx.conf
  std::string upstream;                          // bgctl's upstream's name
  std::string scheme = "http://", rest;          // of proxy_pass
  bool lua = false;
  std::vector<std::string> load_lines;  // load_module lines still needed
};

// Every edit, in the order a reader applies them: the top of the main
// file (load_module), http, server, location.
std::vector<InitEdit> Edits(const InitOptions& o, const InitPlan& plan,
                            const Adoption& a) {
  const InitLocation& c = a.c;
  const std::string ndir = plan.dir + "/nginx/";
  std::vector<InitEdit> edits;
  if (!a.load_lines.empty())
    edits.push_back({a.main_file, 0, "main", a.load_lines, 0, "", ""});
  InitEdit http{c.http->file, c.http->line, "http", {}, 0, "", ""};
  http.add = {"include " + ndir + "bgctl_log_format.conf;",
              "include " + plan.upstream_file + ";"};
  if (a.lua) http.add.push_back("include " + ndir + "bgctl_lua.conf;");
  edits.push_back(http);
  if (const NginxDirective* path = a.lua ? PackagePath(c) : nullptr) {
    InitEdit extend{path->file, path->line, "http", {}, path->line, "", ""};
    extend.replace_text = DirectiveText(*path);
    extend.replace_with =
        "lua_package_path " +
        NginxArg(o.lua_dir + "/?.lua;" +
                 (path->args.empty() ? std::string(";") : path->args[0])) +
        ";";
    edits.push_back(extend);
  }
  edits.push_back({a.probe_server->file,
                   a.probe_server->line,
                   ServerLabel(*a.probe_server),
                   {"include " + ndir + "bgctl_probe.conf;"},
                   0,
                   "",
                   ""});
  edits.push_back(
      LocationEdit(c, a.upstream, a.scheme, a.rest, plan.access_log));
  return edits;
}

// Finds the location, the probe's server, what serves now and the switch.
InitOutcome Adopt(const InitOptions& o, const std::vector<NginxFile>& dump,
                  const std::vector<NginxDirective>& root, Adoption* a,
                  std::string* listen_host, int* port, std::string* err) {
  a->main_file = dump[0].path;
  if (InitOutcome r = PickLocation(o, a->upstream, dump, root, &a->c, err);
      r != InitOutcome::kOk)
    return r;
  // The probe goes where a request to the server's address lands.
  bool is_default = false, found = false;
  for (const NginxDirective* l : Children(*a->c.server, "listen"))
    if (!found) found = PlainListen(*l, listen_host, port, &is_default);
  if (!found) {
    *err = ServerLabel(*a->c.server) + " at " + WhereIs(*a->c.server) +
           " has no plain-HTTP IPv4 listen for bgctl's probe: add one (e.g. "
           "listen 127.0.0.1:8089;) and run init again";
    return InitOutcome::kUsage;
  }
  a->probe_server = DefaultServer(*a->c.http, *listen_host, *port);
  if (!a->probe_server) a->probe_server = a->c.server;
  return InitOutcome::kOk;
}

// The warnings and notes of a plan.
void AddAdvice(const Adoption& a, bool has_current, InitPlan* plan) {
  if (!has_current)
    plan->notes.push_back(
        "until the first deploy the upstream " + a.upstream +
        " has no live server (nginx answers 502): make the proxy_pass change "
        "after `bgctl deploy`, as the last step");
  if (a.lua) return;
  Parents levels = a.c.parents;
  levels.push_back(a.c.location);
  const std::string warning = ClientKeepAliveWarning(levels);
  if (!warning.empty())
    plan->warnings.push_back("the location at " + plan->location + ": " +
                             warning);
}

// The files of the plan. kUsage when the flags make a bgctl.yaml that does
// not load (e.g. a bad --health-path): refused here, not after writing.
InitOutcome PlanFiles(const InitOptions& o, const Adoption& a, const Layout& l,
                      const InitHost& host, const std::string& listen_host,
                      int port, const std::vector<UpstreamServer>& current,
                      const std::vector<std::string>& targets, InitPlan* plan,
                      std::string* err) {
  const InitYaml yaml{plan->switch_name,
                      l.state_yaml,
                      l.upstream_yaml,
                      l.log_yaml,
                      a.upstream,
                      "http://" + listen_host + ":" + std::to_string(port) +
                          "/__bgctl/generation",
                      plan->location};
  Config config;
  plan->files = {{targets[0], InitConfigText(o, yaml)}};
  if (!ParseConfig(plan->files[0].text, plan->config, &config, err)) {
    *err = "the flags make an invalid bgctl.yaml: " + *err;
    return InitOutcome::kUsage;
  }
  plan->files.push_back({targets[1], InitProbeText(listen_host, a.lua)});
  plan->files.push_back({targets[2], kBgctlLogFormatConf});
  if (a.lua)
    plan->files.push_back(
        {targets[3], InitLuaText(o.lua_dir, PackagePath(a.c) == nullptr)});
  // The upstream file as the configured switch renders it.
  plan->files.push_back(
      {targets[4], InitUpstreamText(config, current, host.control_key)});
  return InitOutcome::kOk;
}

// What init finds on this machine besides nginx -T.
InitHost LookAround(const InitOptions& o, Env env, SocketInspector* sockets) {
  InitHost host;
  host.lua_module_installed =
      env.fs->Exists(o.modules_dir + "/ndk_http_module.so") &&
      env.fs->Exists(o.modules_dir + "/ngx_http_lua_module.so");
  for (int port : {o.blue_port, o.green_port}) {
    Listener listener;
    std::string ignored;
    if (sockets &&
        sockets->FindListener("127.0.0.1", port, &listener, &ignored))
      host.busy_ports.push_back(port);
  }
  return host;
}

// The control key a lua upstream file of `state_dir` must carry: the one
// there (a service set up again keeps its key), or a new one.
bool FindControlKey(FileSystem* fs, const std::string& state_dir,
                    InitHost* host, std::string* err) {
  if (fs->Exists(ControlKeyPath(state_dir)))
    return LoadControlKey(fs, state_dir, &host->control_key, err);
  host->control_key_new = true;
  return NewControlKey(&host->control_key, err);
}

}  // namespace

InitOutcome PlanInit(const InitOptions& o, const std::vector<NginxFile>& dump,
                     const InitHost& host, InitPlan* plan, std::string* err) {
  *plan = InitPlan();
  if (!CheckOptions(o, err)) return InitOutcome::kUsage;
  Adoption a;
  a.upstream =
      o.upstream_name.empty() ? o.service + "_backend" : o.upstream_name;
  if (!IsValidName(a.upstream)) {
    *err = "--upstream-name: invalid name \"" + a.upstream +
           "\": use 1-64 characters of A-Z a-z 0-9 . _ -";
    return InitOutcome::kUsage;
  }
  std::vector<NginxDirective> root;
  if (!EffectiveNginxConf(dump, &root, err)) return InitOutcome::kFailed;
  std::string listen_host;
  int port = 0;
  if (InitOutcome r = Adopt(o, dump, root, &a, &listen_host, &port, err);
      r != InitOutcome::kOk)
    return r;
  const std::vector<UpstreamServer> current =
      CurrentServers(a.c, &a.scheme, &a.rest);
  if (!CheckSlotPorts(o, a.c, current, host, err) ||
      !ChooseSwitch(o, root, host, &a.lua, &a.load_lines, err))
    return InitOutcome::kUsage;

  const Layout l = LayoutOf(o);
  const std::vector<std::string> targets = InitTargets(o);
  plan->dir = l.dir;
  plan->config = targets[0];
  plan->state_dir = l.state_dir;
  plan->upstream_file = l.upstream_file;
  plan->access_log = l.access_log;
  plan->switch_name = a.lua ? "lua" : "reload";
  plan->location = WhereIs(*a.c.location);
  plan->nginx_test = Join(NginxWith(o.nginx, {"-t"}));
  plan->nginx_reload = Join(NginxWith(o.nginx, {"-s", "reload"}));
  const InitOutcome r =
      PlanFiles(o, a, l, host, listen_host, port, current, targets, plan, err);
  if (r != InitOutcome::kOk) return r;
  plan->edits = Edits(o, *plan, a);
  AddAdvice(a, !current.empty(), plan);
  return InitOutcome::kOk;
}

InitOutcome RunInit(const InitOptions& o, Env env, SocketInspector* sockets,
                    InitPlan* plan, std::string* err) {
  if (!CheckOptions(o, err)) return InitOutcome::kUsage;
  for (const std::string& path : InitTargets(o)) {
    if (env.fs->Exists(path)) {
      *err = path +
             " exists: bgctl init never overwrites a file (nothing "
             "was written); move it away or use another --dir or "
             "--state-dir";
      return InitOutcome::kUsage;
    }
  }
  std::vector<NginxFile> dump;
  if (!DumpNginxConf(env.processes, NginxWith(o.nginx, {"-t"}), "", &dump, err))
    return InitOutcome::kFailed;
  InitHost host = LookAround(o, env, sockets);
  if (!FindControlKey(env.fs, LayoutOf(o).state_dir, &host, err))
    return InitOutcome::kFailed;
  InitOutcome r = PlanInit(o, dump, host, plan, err);
  if (r != InitOutcome::kOk) return r;
  const std::string log_dir =
      plan->access_log.substr(0, plan->access_log.rfind('/'));
  if (!env.fs->MakeDirs(plan->dir + "/nginx", 0755, err) ||
      !env.fs->MakeDirs(plan->state_dir, 0700, err) ||
      (!log_dir.empty() && !env.fs->MakeDirs(log_dir, 0755, err)))
    return InitOutcome::kFailed;
  if (plan->switch_name == "lua" && host.control_key_new &&
      !WriteControlKey(env.fs, plan->state_dir, host.control_key, err))
    return InitOutcome::kFailed;
  for (const NginxFile& f : plan->files)
    if (!env.fs->WriteFileAtomic(f.path, f.text, err, 0644))
      return InitOutcome::kFailed;
  return InitOutcome::kOk;
}

}  // namespace bgctl
