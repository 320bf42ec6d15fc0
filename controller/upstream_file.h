// The upstream file bgctl owns (nginx.upstream_file): rendered for a split,
// and read back, so `status` can say what nginx will serve at its next start
// or reload and the next command can reconcile after a switch that was not
// confirmed. Its format is documented in nginx/README.md.
#ifndef BGCTL_CONTROLLER_UPSTREAM_FILE_H_
#define BGCTL_CONTROLLER_UPSTREAM_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/env.h"
#include "controller/traffic_switch.h"

namespace bgctl {

// One `server HOST:PORT weight=W max_fails=0;` line.
struct UpstreamServer {
  int port = 0;
  int weight = 0;                  // 1..100
  std::string host = "127.0.0.1";  // a numeric address
};

// The servers for a split, stable first:
//   no canary, or weight 0 -> stable only, weight 100 each
//   no stable, or weight 100 -> canary only, weight 100 each
//   otherwise -> stable servers 100-w, canary servers w
// An empty list only when the split has no server at all.
std::vector<UpstreamServer> ServersFor(const TrafficSplit& split);

// The servers for a split of one stable and one canary port on loopback
// (port 0: none), as ServersFor.
std::vector<UpstreamServer> ServersForSplit(int stable_port, int canary_port,
                                            int canary_weight);

// Checks what nginx would reject: no servers, a port outside 1..65535, a
// weight outside 1..100, a host that is not a numeric address.
bool CheckServers(const std::vector<UpstreamServer>& servers, std::string* err);

// The upstream file's text, for generation N:
//   # written by bgctl, generation N; do not edit
//   upstream NAME {
//       zone NAME 64k;
//       server HOST:PORT weight=W max_fails=0;  (one per server, in order)
//       keepalive K;                            (only when keepalive K > 0)
//   }
//   map $host $bgctl_generation {
//       default "N";
//   }
// `max_fails=0` turns nginx's passive failure marking off: with nginx's
// default (max_fails=1 fail_timeout=10s) one failed request to a server
// sends its whole share to the other side for 10 s, so the split would no
// longer be the one bgctl chose and judges; bgctl checks health itself.
// `keepalive` (nginx.upstream_keepalive) is written only when asked: it
// needs `proxy_http_version 1.1; proxy_set_header Connection "";` in every
// location that proxies to the upstream (bgctl validate checks it), and
// without them nginx marks servers failed and answers 502.
// Precondition: CheckServers(servers).
std::string RenderUpstream(const std::string& upstream_name,
                           const std::vector<UpstreamServer>& servers,
                           uint64_t generation, int keepalive = 0);

// The placeholder upstream file for before the first deploy: generation 0,
// one server 127.0.0.1:PORT marked `down` (nginx answers 502 without
// connecting), no keepalive. scripts/nginx-prefix.sh writes exactly this
// text.
std::string RenderPlaceholderUpstream(const std::string& upstream_name,
                                      int port);

// What an upstream file written by bgctl holds.
struct UpstreamFileContents {
  uint64_t generation = 0;
  std::vector<UpstreamServer> servers;  // `down` servers left out
};

// Reads back a file RenderUpstream (or the placeholder) wrote. False with
// *err for any other text ("not written by bgctl", "no upstream NAME").
bool ParseUpstreamFile(const std::string& text,
                       const std::string& upstream_name,
                       UpstreamFileContents* out, std::string* err);

// "HOST:PORT" as nginx writes an address (an IPv6 host in brackets).
std::string HostPort(const std::string& host, int port);

// Puts the upstream file back as it was before a switch wrote it:
// `previous` when it existed (had_previous), otherwise removes it. On
// failure appends "; restoring PATH failed too: WHY" to *err and returns
// false. Both switches restore through this.
bool RestoreUpstreamFile(FileSystem* fs, const std::string& path,
                         bool had_previous, const std::string& previous,
                         std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_UPSTREAM_FILE_H_
