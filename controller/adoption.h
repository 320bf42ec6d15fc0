// What served before bgctl. `bgctl init` writes an upstream file that sends
// every request to the backend the location proxied to before (so adopting
// bgctl fails no request); the first deploy moves that traffic to a slot.
// bgctl never stops a process it did not start: it does not know how that
// one was started (a unit, a container, a script) nor whether something else
// still uses it, so the first deploy says what happened to it instead, and
// the operator stops it the way it was started.
#ifndef BGCTL_CONTROLLER_ADOPTION_H_
#define BGCTL_CONTROLLER_ADOPTION_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/upstream_file.h"

namespace bgctl {

// The servers nginx.upstream_file holds on neither slot's port (before the
// first deploy: what init adopted); empty when there are none or the file
// cannot be read.
std::vector<UpstreamServer> ServersBeforeBgctl(const Config& config,
                                               FileSystem* fs);

// After the first deploy, for each server of `before`: that nginx sends it
// nothing now, whether it still answers (a GET / over a new connection,
// 500 ms at most), and that bgctl leaves it running. *fields gets
// {"servers": [{"address", "answers"}]} for --output json.
std::string AdoptionNotice(const std::vector<UpstreamServer>& before,
                           HttpProbe* http, nlohmann::json* fields);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ADOPTION_H_
