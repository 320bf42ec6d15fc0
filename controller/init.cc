#include "controller/init.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "controller/config.h"
#include "controller/init_files.h"
#include "controller/names.h"
#include "controller/nginx_checks.h"
#include "controller/sockets.h"
#include "controller/upstream_file.h"
#include "log_format_conf.h"  // generated from nginx/bgctl_log_format.conf

namespace bgctl {
namespace {

using Parents = std::vector<const NginxDirective*>;

// A location that proxies, with the blocks around it.
struct Candidate {
  const NginxDirective* location = nullptr;
  const NginxDirective* proxy_pass = nullptr;
  Parents parents;  // outermost first; the location not included
  const NginxDirective* server = nullptr;
  const NginxDirective* http = nullptr;
};

std::vector<const NginxDirective*> Children(const NginxDirective& block,
                                            const std::string& name) {
  std::vector<const NginxDirective*> out;
  for (const NginxDirective& c : block.children)
    if (c.name == name) out.push_back(&c);
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (const std::string& x : v) out += (out.empty() ? "" : sep) + x;
  return out;
}

std::string ServerLabel(const NginxDirective& server) {
  std::vector<std::string> parts;
  for (const NginxDirective* l : Children(server, "listen"))
    parts.push_back("listen " + Join(l->args));
  for (const NginxDirective* n : Children(server, "server_name"))
    parts.push_back("server_name " + Join(n->args));
  return "server" + (parts.empty() ? "" : " (" + Join(parts, ", ") + ")");
}

std::string CandidateText(const Candidate& c) {
  return WhereIs(*c.location) + " " +
         (c.server ? ServerLabel(*c.server) + ": " : "") + "location " +
         Join(c.location->args) + " -> " + DirectiveText(*c.proxy_pass);
}

std::vector<Candidate> FindCandidates(const std::vector<NginxDirective>& root) {
  std::vector<Candidate> out;
  WalkNginxConf(root, [&](const NginxDirective& d, const Parents& parents) {
    if (d.name != "location" || !d.block) return;
    std::vector<const NginxDirective*> pass = Children(d, "proxy_pass");
    if (pass.empty()) return;
    Candidate c;
    c.location = &d;
    c.proxy_pass = pass[0];
    c.parents = parents;
    for (const NginxDirective* p : parents) {
      if (p->name == "server") c.server = p;
      if (p->name == "http") c.http = p;
    }
    out.push_back(c);
  });
  return out;
}

bool Matches(const Candidate& c, const InitOptions& o) {
  const std::vector<std::string>& args = c.location->args;
  if (!o.location.empty() && (args.empty() || args.back() != o.location) &&
      Join(args) != o.location)
    return false;
  if (o.server_name.empty()) return true;
  if (!c.server) return false;
  for (const NginxDirective* n : Children(*c.server, "server_name"))
    for (const std::string& name : n->args)
      if (name == o.server_name) return true;
  return false;
}

// A listen directive's address for the probe: host (numeric) and port.
// False for ssl/quic listeners, unix sockets and IPv6 addresses.
bool PlainListen(const NginxDirective& listen, std::string* host, int* port,
                 bool* is_default) {
  NginxListen l;
  if (!ParseListen(listen, &l) || l.unix_socket || l.ipv6 || l.tls)
    return false;
  if (l.host.empty() || l.host == "0.0.0.0" || l.host == "localhost")
    l.host = "127.0.0.1";
  if (l.host.find_first_not_of("0123456789.") != std::string::npos)
    return false;
  *host = l.host;
  *port = l.port;
  *is_default = l.is_default;
  return true;
}

// The server of `http` that answers requests to host:port whose Host
// matches no server_name (as the probe's do): the default_server of that
// address, else the first server listening there.
const NginxDirective* DefaultServer(const NginxDirective& http,
                                    const std::string& host, int port) {
  const NginxDirective* first = nullptr;
  for (const NginxDirective* s : Children(http, "server")) {
    for (const NginxDirective* l : Children(*s, "listen")) {
      std::string h;
      int p = 0;
      bool is_default = false;
      if (!PlainListen(*l, &h, &p, &is_default) || p != port || h != host)
        continue;
      if (is_default) return s;
      if (!first) first = s;
    }
  }
  return first;
}

// The directives named `name` in effect inside `c.location`
// (InheritedDirectives).
std::vector<const NginxDirective*> Effective(const Candidate& c,
                                             const std::string& name) {
  Parents levels = c.parents;
  levels.push_back(c.location);
  return InheritedDirectives(levels, name);
}

// Adds `ours` to the location; when the location has no directive of that
// name yet, the inherited ones go with it (a location's own replace them).
void AddWithInherited(const Candidate& c, const std::string& name,
                      const std::string& ours, InitEdit* edit) {
  edit->add.push_back(ours);
  if (!Children(*c.location, name).empty()) return;  // its own replace them
  for (const NginxDirective* d : Effective(c, name))
    if (!(d->args.size() == 1 && d->args[0] == "off"))
      edit->add.push_back(DirectiveText(*d) + "  # inherited from " +
                          WhereIs(*d) + ", kept");
}

// A server address with a numeric host (or localhost) and a port.
bool NumericAddress(const std::string& hostport, UpstreamServer* server) {
  NginxDirective listen;  // the same address syntax as `listen`
  listen.args = {hostport};
  bool is_default = false;
  return hostport.find(':') != std::string::npos &&
         PlainListen(listen, &server->host, &server->port, &is_default);
}

// The servers of `upstream NAME { ... }` in `http` when every live one has
// a numeric address (weights kept, at most 100; `backup` and `down` ones
// left out); empty otherwise.
std::vector<UpstreamServer> UpstreamBlockServers(const NginxDirective& http,
                                                 const std::string& name) {
  std::vector<UpstreamServer> out;
  for (const NginxDirective* up : Children(http, "upstream")) {
    if (up->args != std::vector<std::string>{name}) continue;
    for (const NginxDirective* s : Children(*up, "server")) {
      UpstreamServer server;
      server.weight = 1;
      if (s->args.empty() || !NumericAddress(s->args[0], &server)) return {};
      bool live = true;
      for (size_t i = 1; i < s->args.size(); ++i) {
        const std::string& a = s->args[i];
        live &= a != "backup" && a != "down";
        if (a.rfind("weight=", 0) == 0)
          server.weight = std::clamp(std::atoi(a.c_str() + 7), 1, 100);
      }
      if (live) out.push_back(server);
    }
  }
  return out;
}

// What serves the location now: proxy_pass SCHEME://HOST:PORT[/uri] with a
// numeric host, or SCHEME://NAME[/uri] of an upstream block whose servers
// all have one (UpstreamBlockServers). *scheme and *rest (the "/uri") are
// the proxy_pass's. Empty for any other target (a host name, a variable).
std::vector<UpstreamServer> CurrentServers(const Candidate& c,
                                           std::string* scheme,
                                           std::string* rest) {
  const std::string target =
      c.proxy_pass->args.empty() ? "" : c.proxy_pass->args[0];
  size_t sep = target.find("://");
  if (sep == std::string::npos) return {};
  *scheme = target.substr(0, sep + 3);
  std::string hostport = target.substr(sep + 3);
  size_t slash = hostport.find('/');
  *rest = slash == std::string::npos ? "" : hostport.substr(slash);
  hostport = hostport.substr(0, slash);
  UpstreamServer server;
  server.weight = 100;
  if (NumericAddress(hostport, &server)) return {server};
  return UpstreamBlockServers(*c.http, hostport);
}

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

// The one location init adopts, or kUsage with every candidate listed.
InitOutcome PickLocation(const InitOptions& o, const std::string& upstream,
                         const std::vector<NginxFile>& dump,
                         const std::vector<NginxDirective>& root,
                         Candidate* picked, std::string* err) {
  std::string clash;
  WalkNginxConf(root, [&](const NginxDirective& d, const Parents&) {
    if ((d.name == "upstream" || d.name == "zone") && !d.args.empty() &&
        d.args[0] == upstream && clash.empty())
      clash = WhereIs(d);
  });
  if (!clash.empty()) {
    *err = "an upstream or zone named " + upstream + " exists already (" +
           clash + "): choose another with --upstream-name";
    return InitOutcome::kUsage;
  }
  std::vector<Candidate> all = FindCandidates(root), matching;
  for (const Candidate& c : all)
    if (Matches(c, o) && c.http && c.server) matching.push_back(c);
  if (matching.size() == 1) {
    *picked = matching[0];
    return InitOutcome::kOk;
  }
  std::string list;
  for (const Candidate& c : all) list += "\n  " + CandidateText(c);
  if (all.empty())
    *err =
        "no location with proxy_pass in the configuration nginx -T "
        "printed (" +
        dump[0].path + ")";
  else
    *err = std::string(matching.empty() ? "no location matches"
                                        : "several locations match") +
           (o.location.empty() && o.server_name.empty()
                ? ""
                : " --location/--server-name") +
           ": choose one with --location PATH and --server-name NAME; the "
           "locations with proxy_pass:" +
           list;
  return InitOutcome::kUsage;
}

// The slot ports must be free: not the backend that serves now, nor
// anything else listening.
bool CheckSlotPorts(const InitOptions& o, const Candidate& c,
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

// The location's edit: proxy_pass to bgctl's upstream (a line to replace),
// bgctl's access log, HTTP/1.1 with an empty Connection header.
InitEdit LocationEdit(const Candidate& c, const std::string& upstream,
                      const std::string& scheme, const std::string& rest,
                      const std::string& access_log) {
  InitEdit loc{c.location->file,
               c.location->line,
               "location " + Join(c.location->args),
               {},
               0,
               "",
               ""};
  loc.replace_line = c.proxy_pass->line;
  loc.replace_text = DirectiveText(*c.proxy_pass);
  loc.replace_with = "proxy_pass " + NginxArg(scheme + upstream + rest) + ";";
  AddWithInherited(c, "access_log",
                   "access_log " + NginxArg(access_log) + " bgctl;", &loc);
  // bgctl's upstream may keep connections alive: HTTP/1.1, no Connection.
  std::vector<const NginxDirective*> version =
      Effective(c, "proxy_http_version");
  if (version.empty() ||
      version.back()->args != std::vector<std::string>{"1.1"})
    loc.add.push_back("proxy_http_version 1.1;");
  bool has_connection = false;
  for (const NginxDirective* h : Effective(c, "proxy_set_header"))
    has_connection |= !h->args.empty() && (h->args[0] == "Connection" ||
                                           h->args[0] == "connection");
  if (!has_connection)
    AddWithInherited(c, "proxy_set_header", "proxy_set_header Connection \"\";",
                     &loc);
  return loc;
}

// The http block's lua_package_path, if it has one (nginx refuses a second).
const NginxDirective* PackagePath(const Candidate& c) {
  std::vector<const NginxDirective*> p = Children(*c.http, "lua_package_path");
  return p.empty() ? nullptr : p.back();
}

// What init found in nginx's configuration for the location it adopts.
struct Adoption {
  Candidate c;
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
  const Candidate& c = a.c;
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

}  // namespace

namespace {

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
  const InitYaml yaml{plan->switch_name,
                      l.state_yaml,
                      l.upstream_yaml,
                      l.log_yaml,
                      a.upstream,
                      "http://" + listen_host + ":" + std::to_string(port) +
                          "/__bgctl/generation",
                      plan->location};
  // What the flags said must make a config bgctl loads (e.g. a bad
  // --health-path or --command placeholder): refused here, not after writing.
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
  // The upstream file as the switch renders it: the lead wires the lua
  // switch's control key in here (InitUpstreamText).
  plan->files.push_back({targets[4], InitUpstreamText(config, current)});
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
  InitOutcome r = PlanInit(o, dump, host, plan, err);
  if (r != InitOutcome::kOk) return r;
  const std::string log_dir =
      plan->access_log.substr(0, plan->access_log.rfind('/'));
  if (!env.fs->MakeDirs(plan->dir + "/nginx", 0755, err) ||
      !env.fs->MakeDirs(plan->state_dir, 0700, err) ||
      (!log_dir.empty() && !env.fs->MakeDirs(log_dir, 0755, err)))
    return InitOutcome::kFailed;
  for (const NginxFile& f : plan->files)
    if (!env.fs->WriteFileAtomic(f.path, f.text, err, 0644))
      return InitOutcome::kFailed;
  return InitOutcome::kOk;
}

}  // namespace bgctl
