#include "controller/init.h"

#include <filesystem>

#include "controller/config.h"
#include "controller/names.h"
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
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// An argument as nginx reads it back: quoted when empty or when it holds
// whitespace or a character nginx's syntax gives a meaning to.
std::string Arg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n;{}#\"'") == std::string::npos)
    return a;
  std::string out = "\"";
  for (char c : a) out += c == '"' ? std::string("\\\"") : std::string(1, c);
  return out + "\"";
}

std::string Text(const NginxDirective& d) {
  std::string out = d.name;
  for (const std::string& a : d.args) out += " " + Arg(a);
  return out + ";";
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
         Join(c.location->args) + " -> " + Text(*c.proxy_pass);
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
      edit->add.push_back(Text(*d) + "  # inherited from " + WhereIs(*d) +
                          ", kept");
}

// proxy_pass http://A.B.C.D:PORT[/uri]: *rest gets "/uri"; false for any
// other target (an upstream name, a host name, a variable).
bool NumericTarget(const std::string& target, UpstreamServer* server,
                   std::string* scheme, std::string* rest) {
  size_t sep = target.find("://");
  if (sep == std::string::npos) return false;
  *scheme = target.substr(0, sep + 3);
  std::string hostport = target.substr(sep + 3);
  size_t slash = hostport.find('/');
  *rest = slash == std::string::npos ? "" : hostport.substr(slash);
  hostport = hostport.substr(0, slash);
  NginxDirective listen;  // the same address syntax as `listen`
  listen.args = {hostport};
  bool is_default = false;
  return hostport.find(':') != std::string::npos &&
         PlainListen(listen, &server->host, &server->port, &is_default);
}

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string YamlList(const std::vector<std::string>& argv) {
  std::vector<std::string> q;
  for (const std::string& a : argv) q.push_back(Quoted(a));
  return "[" + Join(q, ", ") + "]";
}

std::vector<std::string> NginxTest(const InitOptions& o) {
  std::vector<std::string> argv = o.nginx;
  argv.insert(argv.begin() + 1, "-t");
  return argv;
}

std::vector<std::string> NginxReload(const InitOptions& o) {
  std::vector<std::string> argv = o.nginx;
  argv.insert(argv.begin() + 1, {"-s", "reload"});
  return argv;
}

std::string ConfigText(const InitOptions& o, const InitPlan& plan,
                       const std::string& upstream, const std::string& log,
                       const std::string& probe_url) {
  return "# bgctl.yaml for " + o.service +
         ", written by `bgctl init` from `nginx -T`.\n"
         "# It deploys the backend of the location at " +
         plan.location +
         ".\n# Every key is described in bgctl's README (\"Configuration\"); "
         "relative\n# paths are relative to this file's folder.\n"
         "service: " +
         o.service +
         "\nstate_dir: .bgctl        # state.json, the lock, backend logs "
         "(mode 0700)\n\nnginx:\n"
         "  # bgctl owns this file and rewrites it at every traffic switch;\n"
         "  # nginx includes it in the http block.\n"
         "  upstream_file: nginx/upstream.conf\n  upstream_name: " +
         upstream + "\n  test_command: " + YamlList(NginxTest(o)) +
         "\n  reload_command: " + YamlList(NginxReload(o)) +
         "\n  # Written by nginx in bgctl's format "
         "(nginx/bgctl_log_format.conf);\n  # the canary analysis reads it.\n"
         "  access_log: " +
         log +
         "\n  # nginx/bgctl_probe.conf: answers the generation nginx serves.\n"
         "  probe_url: " +
         probe_url +
         "\n\nslots:                   # one fixed loopback port per slot\n"
         "  blue: {port: " +
         std::to_string(o.blue_port) +
         "}\n  green: {port: " + std::to_string(o.green_port) +
         "}\n\nbackend:\n"
         "  # argv, never through a shell; {port} and {version} are filled "
         "in.\n  command: " +
         YamlList(o.command) +
         "\n  health:\n    path: " + Quoted(o.health_path) +
         "        # answers 200 once ready\n"
         "  # workdir, env, health timings, drain: see the README.\n\n"
         "rollout:\n  steps:                 # percent of traffic on the "
         "canary\n"
         "    - {weight: 10, pause: 30s}\n    - {weight: 50, pause: 30s}\n"
         "    - {weight: 100}\n\n"
         "# Prometheus metrics for node_exporter's textfile collector (it "
         "reads\n# only files ending in .prom):\n# metrics:\n"
         "#   textfile: /var/lib/prometheus/node-exporter/bgctl-" +
         o.service + ".prom\n";
}

std::string ProbeText(const std::string& listen_host) {
  std::string allow = "    allow 127.0.0.1;\n";
  if (listen_host != "127.0.0.1") allow += "    allow " + listen_host + ";\n";
  return "# Written by `bgctl init`: bgctl's reload probe (nginx.probe_url).\n"
         "# It answers the generation of the upstream file this worker "
         "serves.\nlocation = /__bgctl/generation {\n" +
         allow +
         "    deny all;\n    access_log off;\n    default_type text/plain;\n"
         "    return 200 $bgctl_generation;\n}\n";
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
  else if (o.nginx.empty())
    *err = "--nginx: the nginx program is required";
  else
    return true;
  return false;
}

}  // namespace

std::vector<std::string> InitTargets(const std::string& dir) {
  std::string d = std::filesystem::absolute(dir).lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (d == "/") d.clear();
  return {d + "/bgctl.yaml", d + "/nginx/upstream.conf",
          d + "/nginx/bgctl_probe.conf", d + "/nginx/bgctl_log_format.conf"};
}

InitOutcome PlanInit(const InitOptions& o, const std::vector<NginxFile>& dump,
                     InitPlan* plan, std::string* err) {
  if (!CheckOptions(o, err)) return InitOutcome::kUsage;
  const std::string upstream =
      o.upstream_name.empty() ? o.service + "_backend" : o.upstream_name;
  if (!IsValidName(upstream)) {
    *err = "--upstream-name: invalid name \"" + upstream +
           "\": use 1-64 characters of A-Z a-z 0-9 . _ -";
    return InitOutcome::kUsage;
  }
  std::vector<NginxDirective> root;
  if (!EffectiveNginxConf(dump, &root, err)) return InitOutcome::kFailed;
  std::vector<Candidate> all = FindCandidates(root), picked;
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
  for (const Candidate& c : all)
    if (Matches(c, o) && c.http && c.server) picked.push_back(c);
  if (picked.size() != 1) {
    std::string list;
    for (const Candidate& c : all) list += "\n  " + CandidateText(c);
    if (all.empty())
      *err =
          "no location with proxy_pass in the configuration nginx -T "
          "printed (" +
          dump[0].path + ")";
    else
      *err = std::string(picked.empty() ? "no location matches"
                                        : "several locations match") +
             (o.location.empty() && o.server_name.empty()
                  ? ""
                  : " --location/--server-name") +
             ": choose one with --location PATH and --server-name NAME; the "
             "locations with proxy_pass:" +
             list;
    return InitOutcome::kUsage;
  }
  const Candidate& c = picked[0];
  plan->location = WhereIs(*c.location);
  plan->nginx_test = Join(NginxTest(o));
  plan->nginx_reload = Join(NginxReload(o));
  // The probe goes where a request to the server's address lands.
  std::string host;
  int port = 0;
  bool is_default = false, found = false;
  for (const NginxDirective* l : Children(*c.server, "listen"))
    if (!found) found = PlainListen(*l, &host, &port, &is_default);
  if (!found) {
    *err = ServerLabel(*c.server) + " at " + WhereIs(*c.server) +
           " has no plain-HTTP IPv4 listen for bgctl's probe: add one (e.g. "
           "listen 127.0.0.1:8089;) and run init again";
    return InitOutcome::kUsage;
  }
  const NginxDirective* probe_server = DefaultServer(*c.http, host, port);
  if (!probe_server) probe_server = c.server;

  namespace fs = std::filesystem;
  const std::vector<std::string> targets = InitTargets(o.dir);
  plan->config = targets[0];
  plan->dir = plan->config.substr(0, plan->config.rfind('/'));
  const std::string ndir = plan->dir + "/nginx/";
  const std::string log =
      o.access_log.empty() ? "nginx/access.log" : o.access_log;
  const std::string log_abs =
      fs::path(log).is_absolute() ? log : plan->dir + "/" + log;
  const std::string probe_url =
      "http://" + host + ":" + std::to_string(port) + "/__bgctl/generation";

  // Until the first deploy, the backend proxy_pass names now keeps serving.
  UpstreamServer current;
  std::string scheme, rest, upstream_text;
  if (NumericTarget(c.proxy_pass->args.empty() ? "" : c.proxy_pass->args[0],
                    &current, &scheme, &rest)) {
    if (current.port == o.blue_port || current.port == o.green_port) {
      *err = "--blue-port/--green-port: " + std::to_string(current.port) +
             " is the port of the backend that serves now (" +
             WhereIs(*c.proxy_pass) + "): pick two free ports";
      return InitOutcome::kUsage;
    }
    current.weight = 100;
    upstream_text = RenderUpstream(upstream, {current}, 0);
  } else {
    scheme = "http://";
    upstream_text = RenderPlaceholderUpstream(upstream, o.blue_port);
    plan->notes.push_back(
        "until the first deploy the upstream " + upstream +
        " has no live server (nginx answers 502): make the proxy_pass change "
        "after `bgctl deploy`, as the last step");
  }
  plan->files = {{targets[0], ConfigText(o, *plan, upstream, log, probe_url)},
                 {targets[1], upstream_text},
                 {targets[2], ProbeText(host)},
                 {targets[3], kBgctlLogFormatConf}};

  // What the flags said must make a config bgctl loads (e.g. a bad
  // --health-path or --command placeholder): refused here, not after writing.
  Config check;
  if (!ParseConfig(plan->files[0].text, plan->config, &check, err)) {
    *err = "the flags make an invalid bgctl.yaml: " + *err;
    return InitOutcome::kUsage;
  }

  InitEdit http{c.http->file, c.http->line, "http", {}, 0, "", ""};
  http.add = {"include " + ndir + "bgctl_log_format.conf;",
              "include " + ndir + "upstream.conf;"};
  InitEdit server{probe_server->file,
                  probe_server->line,
                  ServerLabel(*probe_server),
                  {},
                  0,
                  "",
                  ""};
  server.add = {"include " + ndir + "bgctl_probe.conf;"};
  InitEdit loc{c.location->file,
               c.location->line,
               "location " + Join(c.location->args),
               {},
               0,
               "",
               ""};
  loc.replace_line = c.proxy_pass->line;
  loc.replace_text = Text(*c.proxy_pass);
  loc.replace_with = "proxy_pass " + Arg(scheme + upstream + rest) + ";";
  AddWithInherited(c, "access_log", "access_log " + Arg(log_abs) + " bgctl;",
                   &loc);
  // bgctl's upstream keeps connections alive: HTTP/1.1 without Connection.
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
  plan->edits = {http, server, loc};
  return InitOutcome::kOk;
}

InitOutcome RunInit(const InitOptions& o, Env env, InitPlan* plan,
                    std::string* err) {
  if (!CheckOptions(o, err)) return InitOutcome::kUsage;
  for (const std::string& path : InitTargets(o.dir)) {
    if (env.fs->Exists(path)) {
      *err = path +
             " exists: bgctl init never overwrites a file (nothing "
             "was written); move it away or use another --dir";
      return InitOutcome::kUsage;
    }
  }
  std::vector<NginxFile> dump;
  if (!DumpNginxConf(env.processes, NginxTest(o), "", &dump, err))
    return InitOutcome::kFailed;
  InitOutcome r = PlanInit(o, dump, plan, err);
  if (r != InitOutcome::kOk) return r;
  if (!env.fs->MakeDirs(plan->dir + "/nginx", 0755, err))
    return InitOutcome::kFailed;
  for (const NginxFile& f : plan->files)
    if (!env.fs->WriteFileAtomic(f.path, f.text, err, 0644))
      return InitOutcome::kFailed;
  return InitOutcome::kOk;
}

}  // namespace bgctl
