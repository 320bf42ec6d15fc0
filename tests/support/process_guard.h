// Child processes for tests and benchmarks that are always cleaned up.
//
// Every child is started without a shell, in a new process group that it
// leads, with stdin from /dev/null, all signals at their defaults and
// unblocked (the test binary ignores SIGPIPE; its children must not), and
// no descriptors inherited beyond 0-2. Killing "the group" reaches the
// child's own children too, unless they left the group (setsid, as bgctl
// does with backends and nginx does when it daemonizes): those must be
// stopped by the test some other way.
#ifndef BGCTL_TESTS_SUPPORT_PROCESS_GUARD_H_
#define BGCTL_TESTS_SUPPORT_PROCESS_GUARD_H_

#include <map>
#include <string>
#include <vector>

namespace bgctl::testing {

struct ChildOptions {
  // Added to this process's environment (a key already set is replaced).
  std::map<std::string, std::string> env;
  std::string cwd;          // empty: this process's working folder
  std::string stdout_path;  // appended to; empty: /dev/null
  std::string stderr_path;  // appended to; empty: /dev/null; may equal
                            // stdout_path (then both share one descriptor)
};

// An exit status as one number: the exit code if the process exited,
// 128 + N if signal N killed it (as shells report it).
int ExitCode(int wait_status);

// RAII owner of one child process. The destructor SIGKILLs the child's whole
// process group, whether or not the child itself already exited, and reaps
// the child. Not copyable.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv (argv[0] is searched in PATH when it has no '/'). Returns
  // false and sets *err, e.g. "cannot run nope: No such file or directory",
  // if the program could not be executed or a log file not opened. Call at
  // most once per object.
  bool Start(const std::vector<std::string>& argv, const ChildOptions& options,
             std::string* err);

  int pid() const { return pid_; }

  // Sends `sig` to the child only. False if it was never started or has
  // already been reaped.
  bool Signal(int sig);

  // Waits up to timeout_ms for the child to exit and reaps it. Returns true
  // with the waitpid status in *status (see ExitCode) once it has exited
  // (also on later calls); false if it is still running.
  bool WaitExit(int timeout_ms, int* status);

  // True while the child has not exited (reaps it if it has).
  bool Running();

  // SIGKILLs the process group and reaps the child. Safe to call again.
  void Kill();

 private:
  int pid_ = 0;
  bool reaped_ = false;
  int status_ = 0;
};

struct CommandResult {
  int exit_code = -1;      // ExitCode(); -1 if not started or timed out
  bool timed_out = false;  // the group was SIGKILLed at the timeout
  std::string out;         // everything written to stdout
  std::string err;         // everything written to stderr, or why the
                           // command could not start
};

// Runs argv to completion (no shell) with stdout and stderr captured
// separately. After timeout_ms the process group is SIGKILLed. When the
// command exits, whatever it left behind in its process group is killed
// too. `env` is added to this process's environment.
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         const std::string& cwd = "",
                         const std::map<std::string, std::string>& env = {});

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_PROCESS_GUARD_H_
