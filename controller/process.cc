// RealProcessRunner: Boost.Process 1.74 for fork/exec, /proc for liveness.
// See process.h for what a spawned child gets.
#include "controller/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>

#include "controller/text.h"

namespace bgctl {

namespace bp = boost::process;

namespace {

struct ProcStat {
  char state = 0;
  uint64_t utime = 0;       // field 14, clock ticks
  uint64_t stime = 0;       // field 15, clock ticks
  uint64_t start_time = 0;  // field 22, clock ticks since boot
};

// Parses /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
bool ReadProcStat(int pid, ProcStat* st) {
  if (pid <= 0) return false;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char* p = strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return false;
  p += 2;
  for (int field = 3; field <= 22; ++field) {
    if (*p == '\0') return false;
    if (field == 3) st->state = *p;
    if (field == 14 || field == 15 || field == 22) {
      char* end = nullptr;
      uint64_t v = strtoull(p, &end, 10);
      if (end == p) return false;
      if (field == 14) st->utime = v;
      if (field == 15) st->stime = v;
      if (field == 22) st->start_time = v;
    }
    char* space = strchr(p, ' ');
    if (space == nullptr && field < 22) return false;
    p = space ? space + 1 : p + strlen(p);
  }
  return true;
}

std::string ErrnoText(int e) { return std::strerror(e); }

// True when /proc/PID/environ holds the entry `wanted` ("NAME=VALUE").
bool EnvironHas(int pid, const std::string& wanted) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/environ", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string env;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || env.size() > (1 << 20)) break;
    env.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t at = 0;
  while (at < env.size()) {
    size_t nul = env.find('\0', at);
    if (nul == std::string::npos) nul = env.size();
    if (env.compare(at, nul - at, wanted) == 0) return true;
    at = nul + 1;
  }
  return false;
}

// Marks every descriptor >= 3 close-on-exec. Runs in the forked child, so it
// only makes async-signal-safe calls.
void MarkFdsCloseOnExec() {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; ++fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) {
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
}

// A Boost.Process extension: everything the child does between fork and
// exec. Only async-signal-safe calls in on_exec_setup (the parent may have
// threads).
struct ChildSetup : bp::extend::handler {
  bool new_session = false;  // setsid(), else setpgid(0, 0)
  int in_fd = -1;            // becomes stdin
  int out_fd = -1;           // becomes stdout and stderr
  const char* workdir = nullptr;

  template <class Executor>
  void on_exec_setup(Executor& exec) const {
    if (new_session) {
      setsid();
    } else {
      setpgid(0, 0);
    }
    // Ignored signals and the blocked mask survive exec: give the child the
    // defaults (bgctl ignores SIGPIPE and may block signals for sigwait).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    if (workdir != nullptr && workdir[0] != '\0' && chdir(workdir) != 0) {
      exec.set_error(std::error_code(errno, std::system_category()),
                     "chdir failed");
      _exit(127);
    }
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    MarkFdsCloseOnExec();
  }

  // The start failed after fork (exec or chdir error): reap the child that
  // already exited, so no zombie is left.
  template <class Executor>
  void on_error(Executor& exec, const std::error_code&) const {
    if (exec.pid > 0) {
      while (waitpid(exec.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

// Finds the program to exec. argv[0] without '/' is searched in PATH; with a
// '/' it is checked relative to `workdir` (exec resolves it after chdir).
bool ResolveExecutable(const std::vector<std::string>& argv,
                       const std::string& workdir, std::string* exe,
                       std::string* err) {
  if (argv.empty() || argv[0].empty()) {
    *err = "cannot start an empty command";
    return false;
  }
  const std::string& name = argv[0];
  std::string prefix = "cannot start \"" + name + "\": ";
  if (!workdir.empty()) {
    struct stat st;
    int e = 0;
    if (stat(workdir.c_str(), &st) != 0) {
      e = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      e = ENOTDIR;
    }
    if (e != 0) {
      *err = prefix + "working folder \"" + workdir + "\": " + ErrnoText(e);
      return false;
    }
  }
  if (name.find('/') == std::string::npos) {
    boost::filesystem::path found;
    try {
      found = bp::search_path(name);
    } catch (const std::exception&) {
    }
    if (found.empty()) {
      *err = prefix + ErrnoText(ENOENT);
      return false;
    }
    *exe = found.string();
    return true;
  }
  std::string full =
      (name[0] == '/' || workdir.empty()) ? name : workdir + "/" + name;
  if (access(full.c_str(), X_OK) != 0) {
    *err = prefix + ErrnoText(errno);
    return false;
  }
  *exe = name;
  return true;
}

// Forks and execs `exe` with `argv`, wiring in_fd/out_fd. On success the
// Boost child is detached and *pid set.
bool StartChild(const std::string& exe, const std::vector<std::string>& argv,
                const std::map<std::string, std::string>& extra_env,
                const std::string& workdir, bool new_session, int in_fd,
                int out_fd, int* pid, std::string* err) {
  ChildSetup setup;
  setup.new_session = new_session;
  setup.in_fd = in_fd;
  setup.out_fd = out_fd;
  setup.workdir = workdir.c_str();
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  std::error_code ec;
  try {
    bp::environment env = boost::this_process::environment();
    for (const auto& [key, value] : extra_env) env[key] = value;
    bp::child c(bp::exe = exe, bp::args = args, env, setup, ec);
    if (!ec) {
      *pid = c.id();
      c.detach();
      return true;
    }
  } catch (const std::exception& e) {
    *err = "cannot start \"" + argv[0] + "\": " + e.what();
    return false;
  }
  *err = "cannot start \"" + argv[0] + "\": " + ec.message();
  return false;
}

// What is left to write to a RunWithInput() child's stdin, through bgctl's
// end of a socket pair: send(MSG_NOSIGNAL), so a child that stops reading
// never raises SIGPIPE in bgctl (a pipe would).
struct Feeder {
  int fd = -1;  // -1: nothing (more) to write
  const std::string* data = nullptr;
  size_t done = 0;

  // The child sees end of file once every copy of this end is closed.
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  // Writes what the socket takes now, without blocking; closes the socket
  // after the last byte, or when the child has closed its end.
  void Feed() {
    while (fd >= 0) {
      if (done == data->size()) return Close();
      size_t chunk = std::min<size_t>(data->size() - done, 65536);
      ssize_t n =
          send(fd, data->data() + done, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        return;  // full: poll says when there is room
      } else if (n < 0 && errno != EINTR) {
        return Close();  // EPIPE, ECONNRESET: it reads no more
      }
    }
  }
};

// Waits up to wait_ms for output on `fd` (or room for the feeder's input)
// and appends what is there to out->output (keeping at most `max_output`
// bytes; every byte is counted in out->output_bytes). Returns false at end
// of file.
bool ReadSome(int fd, int wait_ms, size_t max_output, RunResult* out,
              Feeder* feeder) {
  pollfd p[2] = {{fd, POLLIN, 0}, {feeder->fd, POLLOUT, 0}};
  int r = poll(p, feeder->fd >= 0 ? 2 : 1, wait_ms);
  if (r <= 0) return true;  // nothing yet, or EINTR
  if (p[1].revents != 0) feeder->Feed();
  if (p[0].revents == 0) return true;
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof(buf));
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  out->output_bytes += static_cast<uint64_t>(n);
  size_t room = max_output - std::min(out->output.size(), max_output);
  out->output.append(buf, std::min(static_cast<size_t>(n), room));
  return true;
}

int64_t MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// Collects the output of a Run() child (and feeds its stdin) until it exits
// or times out.
void CollectRun(int pid, int fd, Feeder* feeder, int64_t timeout_ms,
                size_t max_output,
                RunResult* out) {
  auto start = std::chrono::steady_clock::now();
  bool open = true;
  int status = 0;
  bool reaped = false;
  for (;;) {
    if (open) {
      open = ReadSome(fd, 10, max_output, out, feeder);
    } else {
      feeder->Feed();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      reaped = true;
      break;
    }
    if (r < 0 && errno != EINTR) break;  // ECHILD: reaped elsewhere
    if (timeout_ms > 0 && MsSince(start) >= timeout_ms) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      out->timed_out = true;
      break;
    }
  }
  if (reaped && WIFEXITED(status)) out->exit_code = WEXITSTATUS(status);
  feeder->Close();
  // The rest of the output; a grandchild that left the group may hold the
  // pipe open, so stop after 200 ms.
  auto drain_start = std::chrono::steady_clock::now();
  while (open && MsSince(drain_start) < 200) {
    open = ReadSome(fd, 10, max_output, out, feeder);
  }
}

class RealProcessRunnerImpl : public ProcessRunner {
 public:
  bool Spawn(const SpawnSpec& spec, ProcessId* id, std::string* err) override {
    std::string exe;
    if (!ResolveExecutable(spec.argv, spec.workdir, &exe, err)) return false;
    int log_fd =
        OpenRegularNoFollow(spec.log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (log_fd < 0) {
      *err = "cannot open log " + spec.log_path + ": " + FileErrorText(errno);
      return false;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
      *err = "cannot open /dev/null: " + ErrnoText(errno);
      close(log_fd);
      return false;
    }
    int pid = 0;
    bool ok = StartChild(exe, spec.argv, spec.env, spec.workdir, true, null_fd,
                         log_fd, &pid, err);
    close(null_fd);
    close(log_fd);
    if (!ok) return false;
    return RecordStartTime(pid, id, err);
  }

  bool IsAlive(const ProcessId& id) override {
    ProcStat st;
    if (!ReadProcStat(id.pid, &st) || st.start_time != id.start_time) {
      return false;
    }
    if (st.state == 'Z' || st.state == 'X') {
      // Reap it if it is our own child; ECHILD otherwise, which is fine.
      while (waitpid(id.pid, nullptr, WNOHANG) < 0 && errno == EINTR) {
      }
      return false;
    }
    return true;
  }

  bool Signal(const ProcessId& id, int sig, std::string* err) override {
    if (id.pid <= 1 || !IsAlive(id)) {
      *err = "process " + std::to_string(id.pid) + " is not running";
      return false;
    }
    int target = getpgid(id.pid) == id.pid ? -id.pid : id.pid;
    if (kill(target, sig) != 0) {
      *err = "cannot send signal " + std::to_string(sig) + " to process " +
             std::to_string(id.pid) + ": " + ErrnoText(errno);
      return false;
    }
    return true;
  }

  bool CpuTimeMs(const ProcessId& id, int64_t* ms) override {
    ProcStat st;
    if (!ReadProcStat(id.pid, &st) || st.start_time != id.start_time) {
      return false;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0) return false;
    *ms = static_cast<int64_t>((st.utime + st.stime) * 1000 / ticks);
    return true;
  }

  std::vector<ProcessId> FindByEnv(const std::string& name,
                                   const std::string& value) override {
    std::vector<ProcessId> found;
    const std::string wanted = name + "=" + value;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return found;
    while (dirent* e = readdir(proc)) {
      char* end = nullptr;
      long pid = strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || pid <= 1) continue;
      if (!EnvironHas(static_cast<int>(pid), wanted)) continue;
      ProcessId id;
      id.pid = static_cast<int>(pid);
      if (ReadStartTime(id.pid, &id.start_time) && IsAlive(id))
        found.push_back(id);
    }
    closedir(proc);
    std::sort(
        found.begin(), found.end(),
        [](const ProcessId& a, const ProcessId& b) { return a.pid < b.pid; });
    return found;
  }

  bool Run(const std::vector<std::string>& argv, const std::string& workdir,
           int64_t timeout_ms, RunResult* out, std::string* err) override {
    return RunFed(argv, {}, workdir, nullptr, timeout_ms, kMaxRunOutput, out,
                  err);
  }

  bool RunWithInput(const std::vector<std::string>& argv,
                    const std::string& workdir, const std::string& stdin_data,
                    int64_t timeout_ms, RunResult* out,
                    std::string* err) override {
    return RunFed(argv, {}, workdir, &stdin_data, timeout_ms, kMaxRunOutput,
                  out, err);
  }

  bool RunKeeping(const std::vector<std::string>& argv,
                  const std::string& workdir, int64_t timeout_ms,
                  size_t max_output, RunResult* out,
                  std::string* err) override {
    return RunFed(argv, {}, workdir, nullptr, timeout_ms, max_output, out,
                  err);
  }

  bool RunWithEnv(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env,
                  const std::string& workdir, int64_t timeout_ms,
                  RunResult* out, std::string* err) override {
    return RunFed(argv, env, workdir, nullptr, timeout_ms, kMaxRunOutput, out,
                  err);
  }

 private:
  // Run() with `env` added, stdin from /dev/null (input null) or fed with
  // *input, keeping at most `max_output` bytes of output.
  bool RunFed(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env,
              const std::string& workdir, const std::string* input,
              int64_t timeout_ms, size_t max_output, RunResult* out,
              std::string* err) {
    *out = RunResult();
    std::string exe;
    if (!ResolveExecutable(argv, workdir, &exe, err)) return false;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      *err = "cannot create a pipe: " + ErrnoText(errno);
      return false;
    }
    Feeder feeder;
    int in_fd = -1;
    if (!OpenStdin(input, &feeder, &in_fd, err)) {
      close(fds[0]);
      close(fds[1]);
      return false;
    }
    int pid = 0;
    bool ok =
        StartChild(exe, argv, env, workdir, false, in_fd, fds[1], &pid, err);
    close(in_fd);
    close(fds[1]);
    if (ok) CollectRun(pid, fds[0], &feeder, timeout_ms, max_output, out);
    feeder.Close();
    close(fds[0]);
    return ok;
  }

  // The child's stdin: /dev/null, or one end of a socket pair whose other
  // end *feeder writes `input` to.
  static bool OpenStdin(const std::string* input, Feeder* feeder, int* in_fd,
                        std::string* err) {
    if (input == nullptr) {
      *in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (*in_fd >= 0) return true;
      *err = "cannot open /dev/null: " + ErrnoText(errno);
      return false;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      *err = "cannot create a socket pair: " + ErrnoText(errno);
      return false;
    }
    shutdown(sv[0], SHUT_RD);  // bgctl only writes, the child only reads
    shutdown(sv[1], SHUT_WR);
    feeder->fd = sv[0];
    feeder->data = input;
    *in_fd = sv[1];
    return true;
  }

  // /proc/PID exists as soon as fork returns; retry briefly all the same.
  bool RecordStartTime(int pid, ProcessId* id, std::string* err) {
    uint64_t start_time = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (ReadStartTime(pid, &start_time)) {
        id->pid = pid;
        id->start_time = start_time;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    *err = "cannot read the start time of process " + std::to_string(pid);
    return false;
  }
};

}  // namespace

bool ReadStartTime(int pid, uint64_t* start_time) {
  ProcStat st;
  if (!ReadProcStat(pid, &st)) return false;
  *start_time = st.start_time;
  return true;
}

std::string TailOfFile(FileSystem* fs, const std::string& path, int max_lines) {
  std::string text, err;
  if (max_lines <= 0 || !fs->ReadFile(path, &text, &err)) return "";
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;  // the final newline
  int lines = 0;
  while (pos > 0) {
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    if (++lines == max_lines) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  return ValidUtf8(std::string_view(text).substr(pos));
}

ProcessRunner* RealProcessRunner() {
  static ProcessRunner* runner = new RealProcessRunnerImpl();
  return runner;
}

}  // namespace bgctl
