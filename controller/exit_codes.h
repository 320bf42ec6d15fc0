// Exit codes for every bgctl command (see CONTRACT.md). The only place they
// are defined.
#ifndef BGCTL_CONTROLLER_EXIT_CODES_H_
#define BGCTL_CONTROLLER_EXIT_CODES_H_

namespace bgctl {

enum ExitCode {
  kExitOk = 0,          // done; also a deploy stopped at an indefinite pause
  kExitFailed = 1,      // run-time failure, message on stderr
  kExitUsage = 2,       // bad usage or invalid configuration
  kExitRolledBack = 3,  // the deploy was rolled back
  kExitBusy = 4,        // another bgctl operation holds the lock
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_EXIT_CODES_H_
