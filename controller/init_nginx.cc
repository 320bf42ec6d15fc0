// How `bgctl init` reads nginx's configuration (init_nginx.h).
#include "controller/init_nginx.h"

#include <algorithm>
#include <cstdlib>

namespace bgctl {

using Parents = std::vector<const NginxDirective*>;

std::vector<const NginxDirective*> Children(const NginxDirective& block,
                                            const std::string& name) {
  std::vector<const NginxDirective*> out;
  for (const NginxDirective& c : block.children)
    if (c.name == name) out.push_back(&c);
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
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

namespace {

std::string LocationText(const InitLocation& c) {
  return WhereIs(*c.location) + " " +
         (c.server ? ServerLabel(*c.server) + ": " : "") + "location " +
         Join(c.location->args) + " -> " + DirectiveText(*c.proxy_pass);
}

std::vector<InitLocation> FindLocations(
    const std::vector<NginxDirective>& root) {
  std::vector<InitLocation> out;
  WalkNginxConf(root, [&](const NginxDirective& d, const Parents& parents) {
    if (d.name != "location" || !d.block) return;
    std::vector<const NginxDirective*> pass = Children(d, "proxy_pass");
    if (pass.empty()) return;
    InitLocation c;
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

bool Matches(const InitLocation& c, const InitOptions& o) {
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

// The directives named `name` in effect inside `c.location`
// (InheritedDirectives).
std::vector<const NginxDirective*> Effective(const InitLocation& c,
                                             const std::string& name) {
  Parents levels = c.parents;
  levels.push_back(c.location);
  return InheritedDirectives(levels, name);
}

// Adds `ours` to the location; when the location has no directive of that
// name yet, the inherited ones go with it (a location's own replace them).
void AddWithInherited(const InitLocation& c, const std::string& name,
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

}  // namespace

std::vector<UpstreamServer> CurrentServers(const InitLocation& c,
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

InitOutcome PickLocation(const InitOptions& o, const std::string& upstream,
                         const std::vector<NginxFile>& dump,
                         const std::vector<NginxDirective>& root,
                         InitLocation* picked, std::string* err) {
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
  std::vector<InitLocation> all = FindLocations(root), matching;
  for (const InitLocation& c : all)
    if (Matches(c, o) && c.http && c.server) matching.push_back(c);
  if (matching.size() == 1) {
    *picked = matching[0];
    return InitOutcome::kOk;
  }
  std::string list;
  for (const InitLocation& c : all) list += "\n  " + LocationText(c);
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

InitEdit LocationEdit(const InitLocation& c, const std::string& upstream,
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

}  // namespace bgctl
