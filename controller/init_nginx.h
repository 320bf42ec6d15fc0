// How `bgctl init` reads nginx's configuration (`nginx -T`, nginx_conf.h):
// the location it adopts, the server that gets the probe, what serves the
// location now, and the edit of that location. Internal to init.cc and its
// tests.
#ifndef BGCTL_CONTROLLER_INIT_NGINX_H_
#define BGCTL_CONTROLLER_INIT_NGINX_H_

#include <string>
#include <vector>

#include "controller/init.h"
#include "controller/nginx_conf.h"
#include "controller/upstream_file.h"

namespace bgctl {

// A location that proxies, with the blocks around it.
struct InitLocation {
  const NginxDirective* location = nullptr;
  const NginxDirective* proxy_pass = nullptr;
  std::vector<const NginxDirective*> parents;  // outermost first; not the
                                               // location itself
  const NginxDirective* server = nullptr;
  const NginxDirective* http = nullptr;
};

// The direct children of `block` named `name`.
std::vector<const NginxDirective*> Children(const NginxDirective& block,
                                            const std::string& name);

// `v` joined by `sep`.
std::string Join(const std::vector<std::string>& v, const char* sep = " ");

// "server (listen 8080, server_name app.example)".
std::string ServerLabel(const NginxDirective& server);

// A listen directive's address for the probe: host (numeric; 0.0.0.0, *
// and localhost are 127.0.0.1) and port. False for ssl/quic listeners, unix
// sockets and IPv6 addresses.
bool PlainListen(const NginxDirective& listen, std::string* host, int* port,
                 bool* is_default);

// The server of `http` that answers requests to host:port whose Host
// matches no server_name (as the probe's do): the default_server of that
// address, else the first server listening there; null when none.
const NginxDirective* DefaultServer(const NginxDirective& http,
                                    const std::string& host, int port);

// The one location with proxy_pass (in a server in http) that --location
// and --server-name pick. kUsage when none or several match, the message
// listing every candidate as "FILE:LINE server (...): location ... ->
// proxy_pass ...;", or when an upstream or zone is named `upstream`
// already.
InitOutcome PickLocation(const InitOptions& options,
                         const std::string& upstream,
                         const std::vector<NginxFile>& dump,
                         const std::vector<NginxDirective>& root,
                         InitLocation* picked, std::string* err);

// What serves the location now: proxy_pass SCHEME://HOST:PORT[/uri] with a
// numeric host, or SCHEME://NAME[/uri] of an `upstream NAME` block whose
// live servers all have one (weights kept, at most 100; `backup` and `down`
// left out). *scheme and *rest (the "/uri") are the proxy_pass's. Empty for
// any other target (a host name, a variable).
std::vector<UpstreamServer> CurrentServers(const InitLocation& location,
                                           std::string* scheme,
                                           std::string* rest);

// The location's edit: the proxy_pass line to replace (to bgctl's upstream,
// `scheme` and `rest` kept), then bgctl's access log (with the inherited
// ones a location-level access_log would drop), HTTP/1.1 and an empty
// Connection header unless in effect already.
InitEdit LocationEdit(const InitLocation& location, const std::string& upstream,
                      const std::string& scheme, const std::string& rest,
                      const std::string& access_log);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_INIT_NGINX_H_
