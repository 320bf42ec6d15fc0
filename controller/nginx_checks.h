// What bgctl needs from the nginx configuration a user runs (README, "Putting
// it in front of your own nginx"), checked on the effective configuration
// that `nginx -T` prints (nginx_conf.h). `bgctl validate` runs these checks
// and exits 2 when any of them finds a problem.
#ifndef BGCTL_CONTROLLER_NGINX_CHECKS_H_
#define BGCTL_CONTROLLER_NGINX_CHECKS_H_

#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/nginx_conf.h"

namespace bgctl {

// The prefix nginx resolves relative paths (access_log) against: the
// argument of `-p` in test_command (relative to `dir`), or Debian's
// compiled-in /usr/share/nginx.
std::string NginxPrefixOf(const std::vector<std::string>& test_command,
                          const std::string& dir);

// Checks the dumped files (SplitNginxDump) against `cfg`. Appends one
// "FILE:LINE: problem" to *problems for each of, in this order:
//   - the http block does not include cfg.upstream_file (no `upstream
//     NAME` read from that file);
//   - no server listening on the probe_url's port has the probe location
//     (`location = PATH { return 200 $bgctl_generation; }`);
//   - no location proxies to the upstream (`proxy_pass http://NAME`);
//   - a location that proxies to the upstream is not logged to
//     cfg.access_log with a log_format holding bgctl's fields;
//   - a second map sets $bgctl_generation;
//   - upstream keep-alive (cfg.upstream_keepalive > 0, or a `keepalive`
//     directive in the upstream) while a location that proxies to it lacks
//     `proxy_http_version 1.1` or `proxy_set_header Connection ""`;
//   - nginx.switch lua: the Lua module is not loaded, there is no
//     `lua_shared_dict bgctl SIZE` in the http block, or no server on the
//     control_url's port has the control location (`location = PATH {
//     content_by_lua_block { require("bgctl").control() } }`).
// Inherited settings (access_log, proxy_http_version, proxy_set_header) are
// resolved as nginx does: the innermost level that has the directive wins.
// `prefix` resolves relative access_log paths (NginxPrefixOf). False with
// *err only when a file cannot be parsed.
// `warnings` (optional) gets what works but costs requests: on the reload
// switch, client keep-alive in a location that proxies to the upstream
// (ClientKeepAliveWarning).
bool CheckNginxConf(const std::vector<NginxFile>& files, const NginxConfig& cfg,
                    const std::string& prefix,
                    std::vector<std::string>* problems, std::string* err,
                    std::vector<std::string>* warnings = nullptr);

// True when the main context of `root` loads the module file `so_name`
// (e.g. "ngx_http_lua_module.so") from any folder: Debian's
// modules-enabled/ files say `load_module modules/ngx_http_lua_module.so;`.
bool LoadsModule(const std::vector<NginxDirective>& root,
                 const std::string& so_name);

// For the reload switch: "" when client keep-alive is off inside the
// innermost of `levels` (http first, then server, ..., the location that
// proxies), else why a reload fails requests there and the exact line that
// turns it off, e.g. "client keep-alive is on (keepalive_timeout 75s,
// nginx's default): ... add \"keepalive_timeout 0;\" to the server block
// at FILE:LINE ...". `keepalive_timeout 0` (or 0s, 0ms) is off.
std::string ClientKeepAliveWarning(
    const std::vector<const NginxDirective*>& levels);

// Only the lua switch's checks of CheckNginxConf (nothing when the switch
// is reload): what `deploy` requires before it starts.
bool CheckLuaNginxConf(const std::vector<NginxFile>& files,
                       const NginxConfig& cfg,
                       std::vector<std::string>* problems, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_NGINX_CHECKS_H_
