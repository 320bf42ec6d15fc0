// Skipping a test that cannot run on this machine (no systemd, no Lua
// module): it says why and returns; ctest reports it as skipped, never as
// passed (CMakeLists.txt sets SKIP_REGULAR_EXPRESSION "SKIPPED: ").
#ifndef BGCTL_TESTS_SUPPORT_SKIP_H_
#define BGCTL_TESTS_SUPPORT_SKIP_H_

#include <catch2/catch.hpp>

// Use in a TEST_CASE body: BGCTL_SKIP("no systemd: " << why);
#define BGCTL_SKIP(why)       \
  do {                        \
    WARN("SKIPPED: " << why); \
    return;                   \
  } while (false)

#endif  // BGCTL_TESTS_SUPPORT_SKIP_H_
