// Catch2 assertions over the end-to-end helpers (e2e.h), for test sources
// only: the benchmarks link tests/support without Catch2.
#ifndef BGCTL_TESTS_SUPPORT_REQUIRE_H_
#define BGCTL_TESTS_SUPPORT_REQUIRE_H_

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/e2e.h"
#include "tests/support/nginx_fixture.h"
#include "tests/support/skip.h"
#include "tests/support/test_hosts.h"

namespace bgctl::testing {

// StartWithV1, or the test fails with bgctl's output. (An INFO(err) before
// the call would show nothing: Catch2 takes an INFO's text when it is
// written, not when an assertion fails.)
inline void RequireStartWithV1(Service* svc,
                               const ServiceOptions& options = {}) {
  std::string err;
  const bool started = StartWithV1(svc, options, &err);
  INFO(err);
  REQUIRE(started);
}

}  // namespace bgctl::testing

// Boots the test hosts (a TestHosts), or skips the test where they cannot
// run here (SKIPPED: why); a boot that fails where they can run fails it.
#define BGCTL_BOOT_HOSTS_OR_SKIP(hosts)                          \
  do {                                                           \
    std::string why = (hosts).CannotRun();                       \
    if (!why.empty()) BGCTL_SKIP("no test hosts here: " << why); \
    std::string boot_err;                                        \
    const bool booted = (hosts).Boot(&boot_err);                 \
    INFO(boot_err);                                              \
    REQUIRE(booted);                                             \
  } while (false)

// In a TEST_CASE body: skips it, saying why, where nginx's Lua module is
// not installed (NginxFixture::LuaAvailable).
#define REQUIRE_LUA()                                         \
  do {                                                        \
    std::string why_;                                         \
    if (!::bgctl::testing::NginxFixture::LuaAvailable(&why_)) \
      BGCTL_SKIP(why_);                                       \
  } while (false)

#endif  // BGCTL_TESTS_SUPPORT_REQUIRE_H_
