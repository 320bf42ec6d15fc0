// The side effects bgctl's logic needs, behind small interfaces that are
// passed in (LevelDB's Env, ninja's DiskInterface and CommandRunner). The
// rollout never calls the clock, fork, sockets or the filesystem directly;
// tests pass fakes. Real implementations: RealClock/RealFileSystem (env.cc),
// RealProcessRunner (process.cc), RealHttpProbe (http_probe.cc).
#ifndef BGCTL_CONTROLLER_ENV_H_
#define BGCTL_CONTROLLER_ENV_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bgctl {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds; only differences are meaningful.
  virtual int64_t NowMs() = 0;
  // Milliseconds since the Unix epoch, for records humans read.
  virtual int64_t WallMs() = 0;
  virtual void SleepMs(int64_t ms) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Reads the whole file. A missing file returns false with *err starting
  // "cannot read PATH: No such file or directory". The real one never
  // follows a symbolic link at `path` and reads only regular files.
  virtual bool ReadFile(const std::string& path, std::string* contents,
                        std::string* err) = 0;
  // True if something is at `path` (a symbolic link counts, wherever it
  // points).
  virtual bool Exists(const std::string& path) = 0;
  // Writes through a temporary file in the same folder, fsyncs it, renames it
  // over `path` and fsyncs the folder: readers see the old or the new file,
  // never a mix. `mode` applies to a newly written file. The temporary file
  // has an unpredictable name (.NAME.tmp.<16 random hex digits>) and is
  // created exclusively (O_EXCL|O_NOFOLLOW), so nothing planted in the
  // folder is ever written through; a symbolic link at `path` is replaced,
  // not followed.
  virtual bool WriteFileAtomic(const std::string& path,
                               const std::string& contents, std::string* err,
                               int mode = 0644) = 0;
  // Appends `line` (which must end in '\n') with one write(2) on an O_APPEND
  // descriptor and fsyncs, so concurrent appenders never interleave. The
  // real one refuses a symbolic link at `path` and anything but a regular
  // file ("... is a symbolic link (bgctl never follows one here)").
  virtual bool AppendLine(const std::string& path, const std::string& line,
                          std::string* err) = 0;
  // Creates the folder and its parents (0755); a last folder it creates
  // gets `mode`, whatever the umask. An existing folder keeps its mode and
  // owner: bgctl never quietly repairs a folder others could write
  // (CheckPrivateDir refuses it).
  virtual bool MakeDirs(const std::string& path, int mode,
                        std::string* err) = 0;
  virtual bool Remove(const std::string& path, std::string* err) = 0;
};

// A process identified by pid *and* its start time (field 22 of
// /proc/PID/stat, in clock ticks since boot), so a reused pid is never taken
// for the process bgctl started.
struct ProcessId {
  int pid = 0;
  uint64_t start_time = 0;
};

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH if no '/'
  std::map<std::string, std::string> env;  // added to bgctl's environment
  std::string workdir;                     // empty: bgctl's working folder
  std::string log_path;  // stdout and stderr are appended here
};

// What ProcessRunner::Run keeps of a command's output, by default.
constexpr size_t kMaxRunOutput = 1 << 20;

struct RunResult {
  int exit_code = -1;      // -1 when killed by a signal or timed out
  bool timed_out = false;  // killed (process group) after the timeout
  std::string output;      // stdout and stderr, interleaved (the first
                           // bytes, up to the run's output limit)
  // Every byte the command wrote: more than output.size() when the output
  // limit cut it (0 from runners that do not count).
  uint64_t output_bytes = 0;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Starts a long-lived process in its own session (setsid), detached so it
  // outlives bgctl, with stdin from /dev/null. On success fills *id.
  virtual bool Spawn(const SpawnSpec& spec, ProcessId* id,
                     std::string* err) = 0;
  // True while the process runs: pid exists, is not a zombie, and its start
  // time matches. Reaps it if it is bgctl's own exited child.
  virtual bool IsAlive(const ProcessId& id) = 0;
  // Sends `sig` to the process (and its process group). Returns false with
  // *err if the process is not alive (start time checked first).
  virtual bool Signal(const ProcessId& id, int sig, std::string* err) = 0;
  // Total user+system CPU time the process has used, in milliseconds.
  virtual bool CpuTimeMs(const ProcessId& id, int64_t* ms) = 0;
  // The running processes whose environment holds NAME=VALUE exactly (read
  // from /proc/PID/environ; processes whose environment cannot be read are
  // skipped), sorted by pid. How a crash-interrupted start is found.
  virtual std::vector<ProcessId> FindByEnv(const std::string& name,
                                           const std::string& value) = 0;
  // Runs a short command to completion, capturing its output. Returns false
  // only when it could not be started; a non-zero exit is reported in *out.
  // At most kMaxRunOutput bytes of output are kept (the rest is read and
  // counted in output_bytes).
  virtual bool Run(const std::vector<std::string>& argv,
                   const std::string& workdir, int64_t timeout_ms,
                   RunResult* out, std::string* err) = 0;
  // Run() with `stdin_data` on the command's stdin, then end of file (Run()
  // gives /dev/null). Written while the output is read, so neither side
  // blocks the other; a command that exits or closes stdin before reading
  // it all is not an error (its exit code tells).
  virtual bool RunWithInput(const std::vector<std::string>& argv,
                            const std::string& workdir,
                            const std::string& stdin_data, int64_t timeout_ms,
                            RunResult* out, std::string* err) = 0;
  // Run() keeping up to `max_output` bytes of output instead. The default
  // is Run() itself, for runners with no limit of their own.
  virtual bool RunKeeping(const std::vector<std::string>& argv,
                          const std::string& workdir, int64_t timeout_ms,
                          size_t max_output, RunResult* out, std::string* err) {
    (void)max_output;
    return Run(argv, workdir, timeout_ms, out, err);
  }
  // Run() with `env` added to bgctl's environment (a hook's secrets, which
  // must never be on an argv that `ps` shows).
  virtual bool RunWithEnv(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env,
                          const std::string& workdir, int64_t timeout_ms,
                          RunResult* out, std::string* err) = 0;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
};

class HttpProbe {
 public:
  virtual ~HttpProbe() = default;
  // GET http://host:port/path over a new connection (never a pooled one),
  // giving up after timeout_ms in total. False with *err on a connection
  // error or timeout; any HTTP status is success.
  virtual bool Get(const std::string& host, int port, const std::string& path,
                   int64_t timeout_ms, HttpResponse* out, std::string* err) = 0;
};

// open(2) of `path` with `flags` (O_CREAT may be among them) that never
// follows a symbolic link at `path` (ELOOP) and opens only a regular file
// (EISDIR for a folder, EINVAL for a FIFO, socket or device), close-on-exec
// and without blocking on a FIFO. -1 with errno on failure.
int OpenRegularNoFollow(const std::string& path, int flags, int mode = 0);

// strerror(e), except ELOOP ("is a symbolic link (bgctl never follows one
// here)") and EINVAL ("not a regular file") as OpenRegularNoFollow sets them.
std::string FileErrorText(int e);

// Refuses a folder that anyone but root and bgctl's own user could change
// (bgctl runs as root in production): `dir` (absolute) must be owned by root
// or the effective user and not group- or world-writable; every folder above
// it must be owned by root or the effective user and writable by others only
// with the sticky bit (as /tmp), so nobody else can rename what is on the
// path; symbolic links on the path must be owned by root or the effective
// user and are judged where they lead. `what` names the folder in *err:
//   state_dir /srv/x is writable by others (mode 0777): bgctl refuses it;
//   chmod go-w /srv/x
bool CheckPrivateDir(const std::string& what, const std::string& dir,
                     std::string* err);

// The real implementations, owned by the process (never deleted).
Clock* RealClock();
FileSystem* RealFileSystem();
ProcessRunner* RealProcessRunner();  // defined in process.cc
HttpProbe* RealHttpProbe();          // defined in http_probe.cc

// Everything a command needs from the outside world. Not owned.
struct Env {
  Clock* clock = nullptr;
  FileSystem* fs = nullptr;
  ProcessRunner* processes = nullptr;
  HttpProbe* http = nullptr;
};

// An Env made of the real implementations above.
Env RealEnv();

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ENV_H_
