// What the tests of `bgctl init` share: the backend that serves a site
// before bgctl, init's flags, and what a user does with init's output (puts
// the printed lines into their nginx configuration, exactly as printed).
#ifndef BGCTL_TESTS_SUPPORT_ADOPTION_H_
#define BGCTL_TESTS_SUPPORT_ADOPTION_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process_guard.h"
#include "tests/support/service.h"

namespace bgctl::testing {

// Applies `edits` to the files they name: each replaced line changed (the
// text init showed must be on that line), the added lines right after the
// block's line (which must hold its '{'), or at the top of the file for
// line 0. Bottom-up per file, so earlier line numbers stay right. False
// with *err when a file or line is not what init said.
bool ApplyInitEdits(const nlohmann::json& edits, std::string* err);

// A site before bgctl: backend-sample v0 on a free port (*port, its output
// in svc's folder), and svc's nginx started with the user's configuration
// `write(prefix, listen_port, *port)` writes into svc.nginx().prefix(),
// answering v0. False with *err.
bool StartSiteBefore(
    Service& svc, ChildProcess* backend, int* port,
    const std::function<bool(const std::string& prefix, int listen_port,
                             int backend_port)>& write,
    std::string* err);

// `--output json init` for service "app" of `svc` (its slot ports,
// backend-sample as the command) against the nginx of svc.nginx() (-p and
// -c its prefix), with the files in `dir`, `state_dir` and `access_log`,
// then `extra` flags.
std::vector<std::string> InitArgs(Service& svc, const std::string& dir,
                                  const std::string& state_dir,
                                  const std::string& access_log,
                                  const std::vector<std::string>& extra = {});

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_ADOPTION_H_
