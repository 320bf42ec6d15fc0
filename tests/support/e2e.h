// Small helpers shared by the end-to-end tests of bgctl (tests/*_e2e_test.cc).
#ifndef BGCTL_TESTS_SUPPORT_E2E_H_
#define BGCTL_TESTS_SUPPORT_E2E_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/load.h"
#include "tests/support/service.h"

namespace bgctl::testing {

int64_t NowMs();  // monotonic
void SleepMs(int ms);

// Polls `pred` every 10 ms until it holds; false if it did not within
// timeout_ms.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms);

// `bgctl --output json status` of the service, parsed. Empty object (and a
// failed check is up to the caller) when the command fails.
nlohmann::json Status(Service& svc);

// The "version" field of a backend-sample JSON body, or "".
std::string VersionOf(const std::string& body);

// True when `pid` has exited (a zombie waiting for init counts as exited).
bool ProcessGone(int pid);

// Starts the service with `options`; deploys v1 as its first version.
// False with *err (bgctl's output) when either fails.
bool StartWithV1(Service* svc, const ServiceOptions& options, std::string* err);

// Steady load through nginx: 6 clients, half on keep-alive, 30% POST, at
// `rate` requests/s for at most 60 s (tests stop it sooner).
LoadOptions SteadyLoad(int port, double rate = 300);

// The first failed requests of a load report, one a line.
std::string Failures(const LoadReport& report);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_E2E_H_
