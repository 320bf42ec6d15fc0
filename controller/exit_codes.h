// Exit codes for every bgctl command (see CONTRACT.md). The only place they
// are defined.
#ifndef BGCTL_CONTROLLER_EXIT_CODES_H_
#define BGCTL_CONTROLLER_EXIT_CODES_H_

namespace bgctl {

enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitRolledBack = 3,
  kExitBusy = 4,
};

// Every code with its meaning, in order (the end of --help, the man page).
struct ExitCodeMeaning {
  ExitCode code;
  const char* meaning;
};
inline constexpr ExitCodeMeaning kExitCodeMeanings[] = {
    {kExitOk, "done (also a deploy stopped at an indefinite pause)"},
    {kExitFailed, "failed at run time (message on stderr)"},
    {kExitUsage, "bad usage or invalid configuration"},
    {kExitRolledBack, "the deploy was rolled back"},
    {kExitBusy, "busy: another bgctl operation holds the lock"},
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_EXIT_CODES_H_
