// Kill points for crash-consistency tests: bgctl calls Failpoint(name) at
// every boundary between persisting an intent and acting on it (after each
// state write, after the canary is spawned, after the upstream file is
// written, after nginx is told to reload, before a slot is signalled).
// When the environment variable BGCTL_FAILPOINT says so, the process kills
// itself there with SIGKILL, as a power cut or `kill -9` would:
//   BGCTL_FAILPOINT=NAME      at the first hit of NAME
//   BGCTL_FAILPOINT=NAME:N    at the N-th hit of NAME (N >= 1)
//   BGCTL_FAILPOINT=*:N       at the N-th hit of any kill point
// Before dying it writes "bgctl: failpoint NAME (hit N): killed\n" to
// stderr. Without the variable a kill point costs one comparison.
#ifndef BGCTL_CONTROLLER_FAILPOINT_H_
#define BGCTL_CONTROLLER_FAILPOINT_H_

#include <functional>

namespace bgctl {

void Failpoint(const char* name);

// Test-only: while set, every kill point calls `hook` with its name instead
// of reading BGCTL_FAILPOINT (an empty function restores that). A unit test
// on fakes counts the calls and, at the one it kills, throws: the command
// stops there and leaves the fakes as a SIGKILL would leave the world.
void SetFailpointHookForTesting(std::function<void(const char* name)> hook);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_FAILPOINT_H_
