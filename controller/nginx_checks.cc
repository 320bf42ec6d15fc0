#include "controller/nginx_checks.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace bgctl {

namespace {

using Parents = std::vector<const NginxDirective*>;

// One location that proxies to the upstream, with the blocks it sits in
// (http first, the location itself last).
struct ProxyLocation {
  const NginxDirective* proxy_pass;
  Parents levels;
};

// What the checks share.
struct Conf {
  const NginxConfig& cfg;
  std::string prefix;
  std::string main_file;
  const std::vector<NginxDirective>& root;
  const NginxDirective* http = nullptr;
  std::vector<ProxyLocation> proxies;
  std::vector<std::string>* problems;
  std::vector<std::string>* warnings;  // may be null

  std::string HttpWhere() const {
    return http ? WhereIs(*http) : main_file + ":1";
  }
  void Add(const std::string& where, const std::string& problem) const {
    problems->push_back(where + ": " + problem);
  }
};

// The same file, through symlinks and "." or ".." (lexically where the path
// does not exist).
bool SameFile(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  std::filesystem::path pa = std::filesystem::weakly_canonical(a, ec1);
  std::filesystem::path pb = std::filesystem::weakly_canonical(b, ec2);
  if (ec1 || ec2) return a == b;
  return pa == pb;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

// True for `proxy_pass http://NAME`, `https://NAME` or with a URI after it.
bool ProxiesTo(const NginxDirective& d, const std::string& name) {
  if (d.name != "proxy_pass" || d.args.size() != 1) return false;
  for (const char* scheme : {"http://", "https://"}) {
    std::string base = scheme + name;
    const std::string& a = d.args[0];
    if (a == base || a.rfind(base + "/", 0) == 0) return true;
  }
  return false;
}

// The port of a `listen` directive; 0 for a unix socket or one nginx
// would not take.
int ListenPort(const NginxDirective& listen) {
  NginxListen l;
  return ParseListen(listen, &l) ? l.port : 0;
}

// True when `d` is a server block that listens on `port` (a server with
// no `listen` listens on 80).
bool ListensOn(const NginxDirective& d, int port) {
  if (d.name != "server") return false;
  bool listens = false, any_listen = false;
  for (const NginxDirective& l : d.children) {
    if (l.name != "listen") continue;
    any_listen = true;
    listens |= ListenPort(l) == port;
  }
  return listens || (port == 80 && !any_listen);
}

// The location (or `if`) block a proxy_pass sits in, else its server.
const NginxDirective* Holder(const ProxyLocation& p) {
  for (auto it = p.levels.rbegin(); it != p.levels.rend(); ++it)
    if ((*it)->name == "location") return *it;
  return p.levels.back();
}

void FindHttpAndProxies(Conf* c) {
  for (const NginxDirective& d : c->root)
    if (d.name == "http" && d.block && !c->http) c->http = &d;
  if (!c->http) return;
  WalkNginxConf(c->http->children,
                [&](const NginxDirective& d, const Parents& parents) {
                  if (!ProxiesTo(d, c->cfg.upstream_name)) return;
                  Parents levels = {c->http};
                  levels.insert(levels.end(), parents.begin(), parents.end());
                  c->proxies.push_back({&d, levels});
                });
}

const NginxDirective* FindUpstream(const Conf& c) {
  if (!c.http) return nullptr;
  for (const NginxDirective& d : c.http->children)
    if (d.name == "upstream" && d.args.size() == 1 &&
        d.args[0] == c.cfg.upstream_name)
      return &d;
  return nullptr;
}

// An upstream block read from bgctl's upstream file, whatever its name.
const NginxDirective* UpstreamInFile(const Conf& c) {
  if (!c.http) return nullptr;
  for (const NginxDirective& d : c.http->children)
    if (d.name == "upstream" && d.args.size() == 1 &&
        SameFile(d.file, c.cfg.upstream_file))
      return &d;
  return nullptr;
}

// False when the upstream file is included but names another upstream (a
// typo in nginx.upstream_name): the checks by that name then say nothing
// more.
bool CheckInclude(const Conf& c) {
  const NginxDirective* up = FindUpstream(c);
  if (up && SameFile(up->file, c.cfg.upstream_file)) return true;
  if (const NginxDirective* other = UpstreamInFile(c); other && !up) {
    c.Add(WhereIs(*other), "the upstream file " + c.cfg.upstream_file +
                               " is included, but it defines upstream " +
                               other->args[0] + ", not " + c.cfg.upstream_name +
                               ": check nginx.upstream_name in bgctl.yaml "
                               "(a typo?)");
    return false;
  }
  c.Add(c.HttpWhere(), "the http block does not include the upstream file " +
                           c.cfg.upstream_file + " (add \"include " +
                           c.cfg.upstream_file + ";\")");
  return true;
}

bool IsProbeLocation(const NginxDirective& d, const std::string& path) {
  if (d.name != "location") return false;
  bool match = (d.args.size() == 2 && d.args[0] == "=" && d.args[1] == path) ||
               (d.args.size() == 1 && d.args[0] == path);
  if (!match) return false;
  for (const NginxDirective& r : d.children)
    if (r.name == "return" && r.args.size() == 2 && r.args[0] == "200" &&
        r.args[1] == "$bgctl_generation")
      return true;
  return false;
}

void CheckProbe(const Conf& c) {
  const NginxConfig& n = c.cfg;
  const NginxDirective* first = nullptr;
  if (c.http) {
    for (const NginxDirective& s : c.http->children) {
      if (!ListensOn(s, n.probe_port)) continue;
      if (!first) first = &s;
      for (const NginxDirective& l : s.children)
        if (IsProbeLocation(l, n.probe_path)) return;
    }
  }
  const std::string fix = "\"location = " + n.probe_path +
                          " { allow 127.0.0.1; deny all; return 200 "
                          "$bgctl_generation; }\"";
  if (!first) {
    c.Add(c.HttpWhere(), "no probe location: no server listens on port " +
                             std::to_string(n.probe_port) +
                             " of nginx.probe_url " + n.probe_url);
    return;
  }
  c.Add(WhereIs(*first), "no probe location: the server listening on port " +
                             std::to_string(n.probe_port) + " has no " + fix +
                             " (nginx.probe_url " + n.probe_url + ")");
}

void CheckProxied(const Conf& c) {
  if (!c.proxies.empty()) return;
  c.Add(c.HttpWhere(), "no location proxies to upstream " +
                           c.cfg.upstream_name + " (\"proxy_pass http://" +
                           c.cfg.upstream_name + ";\")");
}

// The pieces of bgctl's log format a log_format lacks, "" when none.
std::string MissingLogFields(const NginxDirective& format) {
  std::string text;
  bool json = false;
  for (size_t i = 1; i < format.args.size(); ++i) {
    if (i == 1 && format.args[i] == "escape=json") {
      json = true;
      continue;
    }
    for (char ch : format.args[i])
      if (!std::isspace(static_cast<unsigned char>(ch))) text += ch;
  }
  std::vector<std::string> missing;
  if (!json) missing.push_back("escape=json");
  for (const char* field : {"\"msec\":$msec", "\"status\":$status",
                            "\"request_time\":$request_time",
                            "\"upstream_addr\":\"$upstream_addr\""})
    if (text.find(field) == std::string::npos) missing.push_back(field);
  std::string out;
  for (size_t i = 0; i < missing.size(); ++i)
    out += (i == 0                    ? ""
            : i + 1 == missing.size() ? " and "
                                      : ", ") +
           missing[i];
  return out;
}

std::string Resolve(const std::string& prefix, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return prefix + (prefix.empty() || prefix.back() == '/' ? "" : "/") + path;
}

const NginxDirective* FindLogFormat(const Conf& c, const std::string& name) {
  for (const NginxDirective& d : c.http->children)
    if (d.name == "log_format" && !d.args.empty() && d.args[0] == name)
      return &d;
  return nullptr;
}

void CheckAccessLog(const Conf& c) {
  for (const ProxyLocation& p : c.proxies) {
    const NginxDirective* bad_format = nullptr;
    const NginxDirective* bad_log = nullptr;
    bool ok = false;
    for (const NginxDirective* log :
         InheritedDirectives(p.levels, "access_log")) {
      if (log->args.empty() ||
          !SameFile(Resolve(c.prefix, log->args[0]), c.cfg.access_log))
        continue;
      std::string name = log->args.size() > 1 ? log->args[1] : "combined";
      const NginxDirective* format = FindLogFormat(c, name);
      if (format && MissingLogFields(*format).empty()) {
        ok = true;
        break;
      }
      bad_log = log;
      bad_format = format;
    }
    if (ok) continue;
    if (bad_log && bad_format) {
      c.Add(WhereIs(*bad_log), "no access log in bgctl's format: access_log " +
                                   c.cfg.access_log + " uses log_format " +
                                   bad_format->args[0] + " (" +
                                   WhereIs(*bad_format) + "), which lacks " +
                                   MissingLogFields(*bad_format));
    } else if (bad_log) {
      c.Add(WhereIs(*bad_log), "no access log in bgctl's format: access_log " +
                                   c.cfg.access_log +
                                   " uses nginx's combined format");
    } else {
      c.Add(WhereIs(*Holder(p)),
            "no access log in bgctl's format: requests proxied to " +
                c.cfg.upstream_name + " here are not logged to " +
                c.cfg.access_log +
                " (add \"include bgctl_log_format.conf;\" "
                "and \"access_log " +
                c.cfg.access_log + " bgctl;\")");
    }
  }
}

void CheckGenerationMaps(const Conf& c) {
  if (!c.http) return;
  const NginxDirective* first = nullptr;
  for (const NginxDirective& d : c.http->children) {
    if (d.name != "map" || d.args.size() != 2 ||
        d.args[1] != "$bgctl_generation")
      continue;
    if (!first) {
      first = &d;
      continue;
    }
    c.Add(WhereIs(d), "a second map sets $bgctl_generation (the first is at " +
                          WhereIs(*first) +
                          "), and nginx uses the last one: keep only the one "
                          "in " +
                          c.cfg.upstream_file);
  }
}

void CheckKeepalive(const Conf& c) {
  std::string reason;
  if (const NginxDirective* up = FindUpstream(c)) {
    for (const NginxDirective& d : up->children)
      if (d.name == "keepalive" && reason.empty())
        reason = "\"keepalive " + (d.args.empty() ? "" : d.args[0]) + "\" at " +
                 WhereIs(d);
  }
  if (reason.empty() && c.cfg.upstream_keepalive > 0)
    reason = "nginx.upstream_keepalive is " +
             std::to_string(c.cfg.upstream_keepalive);
  if (reason.empty()) return;
  for (const ProxyLocation& p : c.proxies) {
    std::vector<const NginxDirective*> version =
        InheritedDirectives(p.levels, "proxy_http_version");
    bool http11 = !version.empty() && !version.back()->args.empty() &&
                  version.back()->args[0] == "1.1";
    bool empty_connection = false;
    for (const NginxDirective* h :
         InheritedDirectives(p.levels, "proxy_set_header"))
      if (h->args.size() == 2 && Lower(h->args[0]) == "connection")
        empty_connection = h->args[1].empty();
    if (http11 && empty_connection) continue;
    std::string missing =
        !http11 && !empty_connection
            ? "\"proxy_http_version 1.1;\" and \"proxy_set_header Connection "
              "\"\";\""
        : !http11 ? "\"proxy_http_version 1.1;\""
                  : "\"proxy_set_header Connection \"\";\"";
    c.Add(WhereIs(*Holder(p)),
          "upstream keep-alive without HTTP/1.1 and an empty Connection "
          "header: " +
              reason + ", but this location proxies to " + c.cfg.upstream_name +
              " without " + missing +
              " (nginx then marks servers failed and answers 502)");
  }
}

void CheckClientKeepAlive(const Conf& c) {
  if (!c.warnings || c.cfg.switch_kind != SwitchKind::kReload) return;
  for (const ProxyLocation& p : c.proxies) {
    std::string warning = ClientKeepAliveWarning(p.levels);
    if (warning.empty()) continue;
    warning = WhereIs(*Holder(p)) + ": " + warning;
    if (std::find(c.warnings->begin(), c.warnings->end(), warning) ==
        c.warnings->end())
      c.warnings->push_back(warning);
  }
}

// A server on control_url's port has `location = PATH { ...
// content_by_lua_block { require("bgctl").control() } }`.
void CheckControlLocation(const Conf& c) {
  const LuaSwitchConfig& lua = c.cfg.lua;
  bool found = false;
  if (c.http)
    for (const NginxDirective& s : c.http->children) {
      if (!ListensOn(s, lua.control_port)) continue;
      for (const NginxDirective& l : s.children) {
        if (l.name != "location" || l.args.empty() ||
            l.args.back() != lua.control_path)
          continue;
        for (const NginxDirective& d : l.children)
          found |= d.name == "content_by_lua_block" &&
                   d.lua.find("bgctl") != std::string::npos &&
                   d.lua.find("control()") != std::string::npos;
      }
    }
  if (found) return;
  c.Add(c.HttpWhere(),
        "nginx.switch is lua but no server listening on port " +
            std::to_string(lua.control_port) +
            " has the control location "
            "of nginx.lua.control_url " +
            lua.control_url + " (\"location = " + lua.control_path +
            " { allow 127.0.0.1; deny all; content_by_lua_block { "
            "require(\"bgctl\").control() } }\")");
}

void CheckLua(const Conf& c) {
  if (c.cfg.switch_kind != SwitchKind::kLua) return;
  if (!LoadsModule(c.root, "ngx_http_lua_module.so"))
    c.Add(c.main_file + ":1",
          "nginx.switch is lua but nginx does not load the Lua module (add "
          "\"load_module /usr/lib/nginx/modules/ndk_http_module.so;\" and "
          "\"load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\" at "
          "the top of " +
              c.main_file + ")");
  bool dict = false;
  if (c.http)
    for (const NginxDirective& d : c.http->children)
      dict |= d.name == "lua_shared_dict" && !d.args.empty() &&
              d.args[0] == "bgctl";
  if (!dict)
    c.Add(c.HttpWhere(),
          "nginx.switch is lua but the http block has no \"lua_shared_dict "
          "bgctl 1m;\"");
  CheckControlLocation(c);
}

}  // namespace

std::string NginxPrefixOf(const std::vector<std::string>& test_command,
                          const std::string& dir) {
  for (size_t i = 0; i + 1 < test_command.size(); ++i) {
    if (test_command[i] != "-p") continue;
    const std::string& p = test_command[i + 1];
    return p.empty() || p[0] == '/' ? p : dir + "/" + p;
  }
  return "/usr/share/nginx";
}

bool LoadsModule(const std::vector<NginxDirective>& root,
                 const std::string& so_name) {
  for (const NginxDirective& d : root) {
    if (d.name != "load_module" || d.args.size() != 1) continue;
    const std::string& path = d.args[0];
    const size_t slash = path.rfind('/');
    if (path.substr(slash == std::string::npos ? 0 : slash + 1) == so_name)
      return true;
  }
  return false;
}

namespace {

// nginx's time "0", "0s", "0ms": no keep-alive.
bool IsZeroTime(const std::string& t) {
  const size_t digits = t.find_first_not_of("0123456789");
  const std::string number = t.substr(0, digits);
  return !number.empty() && number.find_first_not_of('0') == std::string::npos;
}

}  // namespace

std::string ClientKeepAliveWarning(
    const std::vector<const NginxDirective*>& levels) {
  std::vector<const NginxDirective*> set =
      InheritedDirectives(levels, "keepalive_timeout");
  const NginxDirective* last = set.empty() ? nullptr : set.back();
  if (last && !last->args.empty() && IsZeroTime(last->args[0])) return "";
  const NginxDirective* server = nullptr;
  for (const NginxDirective* l : levels)
    if (l->name == "server") server = l;
  std::string fix;
  if (last)
    fix = "change " + WhereIs(*last) + " to \"keepalive_timeout 0;\"";
  else if (server)
    fix = "add \"keepalive_timeout 0;\" to the server block at " +
          WhereIs(*server);
  else
    fix = "add \"keepalive_timeout 0;\" to the http block at " +
          WhereIs(*levels.front());
  return "client keep-alive is on (" +
         (last ? DirectiveText(*last)
               : std::string("keepalive_timeout 75s, nginx's "
                             "default")) +
         "): on the reload switch every traffic step reloads nginx, whose "
         "old workers then close their idle keep-alive connections, and a "
         "request a client sends on one at that instant fails; " +
         fix +
         ", or use nginx.switch: lua (no reload; Debian: "
         "libnginx-mod-http-lua)";
}

bool CheckLuaNginxConf(const std::vector<NginxFile>& files,
                       const NginxConfig& cfg,
                       std::vector<std::string>* problems, std::string* err) {
  std::vector<NginxDirective> root;
  if (!EffectiveNginxConf(files, &root, err)) return false;
  Conf c{cfg, "", files[0].path, root, nullptr, {}, problems, nullptr};
  FindHttpAndProxies(&c);
  CheckLua(c);
  return true;
}

bool CheckNginxConf(const std::vector<NginxFile>& files, const NginxConfig& cfg,
                    const std::string& prefix,
                    std::vector<std::string>* problems, std::string* err,
                    std::vector<std::string>* warnings) {
  std::vector<NginxDirective> root;
  if (!EffectiveNginxConf(files, &root, err)) return false;
  Conf c{cfg, prefix, files[0].path, root, nullptr, {}, problems, warnings};
  FindHttpAndProxies(&c);
  const bool name_found = CheckInclude(c);
  CheckProbe(c);
  if (name_found) CheckProxied(c);
  CheckAccessLog(c);
  CheckGenerationMaps(c);
  CheckKeepalive(c);
  CheckLua(c);
  CheckClientKeepAlive(c);
  return true;
}

}  // namespace bgctl
