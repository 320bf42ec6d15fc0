// The real ProcessRunner (declared in env.h as RealProcessRunner()), built on
// Boost.Process 1.74, plus two helpers about processes.
//
// Spawned processes:
//   - never go through a shell; argv[0] without a '/' is looked up in
//     bgctl's PATH, argv[0] with a '/' is relative to the working folder;
//   - get bgctl's environment plus SpawnSpec::env;
//   - run in their own session (setsid), so they lead their process group
//     and outlive bgctl (the Boost child is detached);
//   - read stdin from /dev/null and append stdout and stderr to the log file
//     (opened O_APPEND|O_CREAT, mode 0644, never through a symbolic link and
//     only if it is a regular file: "cannot open log PATH: is a symbolic
//     link (bgctl never follows one here)");
//   - inherit no other descriptor: in the child every fd >= 3 is marked
//     close-on-exec (close_range(CLOSE_RANGE_CLOEXEC), or an fcntl loop on
//     older kernels), so bgctl's lock file and sockets never leak.
// A process that fails to start yields
//   cannot start "xyz": No such file or directory
//
// Run() children get their own process group (not a session), stdin from
// /dev/null (RunWithInput: one end of a socket pair that bgctl writes the
// input to, then closes) and stdout+stderr into one pipe. The output kept is
// capped at kMaxRunOutput bytes (RunKeeping: its own cap); the rest is read,
// counted in RunResult::output_bytes and dropped. On timeout the whole
// process group gets SIGKILL. After the child exits, output still being
// written by a grandchild that left the group is read for at most 200 ms.
#ifndef BGCTL_CONTROLLER_PROCESS_H_
#define BGCTL_CONTROLLER_PROCESS_H_

#include <cstdint>
#include <string>

#include "controller/env.h"

namespace bgctl {

// Reads field 22 of /proc/PID/stat (start time in clock ticks since boot).
// False if the process does not exist or the file cannot be parsed.
bool ReadStartTime(int pid, uint64_t* start_time);

// The last `max_lines` lines of the file at `path` (the whole text if it has
// fewer), keeping a final newline if the file has one. "" if the file cannot
// be read or max_lines <= 0. For error messages about a backend's log, so
// bytes that are not UTF-8 come back as U+FFFD (ValidUtf8): the text can go
// into state.json as it is.
std::string TailOfFile(FileSystem* fs, const std::string& path, int max_lines);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_PROCESS_H_
