#include "tests/support/process_guard.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace bgctl::testing {

namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

// Everything the child needs, built before fork(): after fork() in a
// threaded process the child may only call async-signal-safe functions.
struct Prepared {
  std::string path;
  std::vector<std::string> argv_store, env_store;
  std::vector<char*> argv, envp;
};

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

void Prepare(const std::vector<std::string>& argv,
             const std::map<std::string, std::string>& env, Prepared* p) {
  p->path = FindInPath(argv.empty() ? "" : argv[0]);
  p->argv_store = argv;
  for (char** e = environ; *e != nullptr; e++) {
    std::string entry = *e;
    if (env.count(entry.substr(0, entry.find('='))) == 0) {
      p->env_store.push_back(entry);
    }
  }
  for (const auto& [key, value] : env)
    p->env_store.push_back(key + "=" + value);
  for (auto& s : p->argv_store) p->argv.push_back(s.data());
  p->argv.push_back(nullptr);
  for (auto& s : p->env_store) p->envp.push_back(s.data());
  p->envp.push_back(nullptr);
}

// fork + exec with fds 0, 1, 2 taken from in/out/err. Returns the pid, or
// -1 with *error set (exec failures are reported through a CLOEXEC pipe).
int Spawn(const Prepared& p, const std::string& cwd, int in, int out, int err,
          std::string* error) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return -1;
  }
  int pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    int code = 0;
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) code = errno;
    if (code == 0 && (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0))
      code = errno;
    if (code == 0) {
      close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      execve(p.path.c_str(), p.argv.data(), p.envp.data());
      code = errno;
    }
    ssize_t ignored = write(report[1], &code, sizeof(code));
    (void)ignored;
    _exit(127);
  }
  close(report[1]);
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    close(report[0]);
    return -1;
  }
  setpgid(pid, pid);  // also in the parent, so a kill right away finds it
  int code = 0;
  ssize_t n;
  do {
    n = read(report[0], &code, sizeof(code));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == sizeof(code)) {
    waitpid(pid, nullptr, 0);
    *error = "cannot run " + p.path + ": " + strerror(code);
    return -1;
  }
  return pid;
}

int OpenAppend(const std::string& path, std::string* error) {
  const char* target = path.empty() ? "/dev/null" : path.c_str();
  int fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) *error = "cannot open " + path + ": " + strerror(errno);
  return fd;
}

}  // namespace

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

ChildProcess::~ChildProcess() { Kill(); }

bool ChildProcess::Start(const std::vector<std::string>& argv,
                         const ChildOptions& options, std::string* err) {
  if (pid_ != 0 || argv.empty()) {
    *err = argv.empty() ? "empty argv" : "already started";
    return false;
  }
  Prepared p;
  Prepare(argv, options.env, &p);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = OpenAppend(options.stdout_path, err);
  int errfd = options.stderr_path == options.stdout_path
                  ? out
                  : OpenAppend(options.stderr_path, err);
  int pid = -1;
  if (in >= 0 && out >= 0 && errfd >= 0) {
    pid = Spawn(p, options.cwd, in, out, errfd, err);
  }
  if (in < 0) *err = std::string("cannot open /dev/null: ") + strerror(errno);
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (errfd >= 0 && errfd != out) close(errfd);
  if (pid <= 0) return false;
  pid_ = pid;
  return true;
}

bool ChildProcess::Signal(int sig) {
  if (pid_ == 0 || !Running()) return false;
  return kill(pid_, sig) == 0;
}

bool ChildProcess::WaitExit(int timeout_ms, int* status) {
  int64_t deadline = NowMs() + timeout_ms;
  while (Running()) {
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid_ == 0) return false;
  if (status != nullptr) *status = status_;
  return true;
}

bool ChildProcess::Running() {
  if (pid_ == 0 || reaped_) return false;
  int status = 0;
  int r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  reaped_ = true;
  status_ = r == pid_ ? status : 0;
  return false;
}

void ChildProcess::Kill() {
  if (pid_ == 0) return;
  kill(-pid_, SIGKILL);
  if (!reaped_) {
    kill(pid_, SIGKILL);  // in case setpgid had not happened yet
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) status_ = status;
    reaped_ = true;
  }
}

namespace {

// Reads the child's stdout and stderr pipes into *result until it exits (or
// the timeout kills its group). Returns the waitpid status.
int Capture(int pid, int out_fd, int err_fd, int timeout_ms,
            CommandResult* result) {
  int64_t deadline = NowMs() + timeout_ms;
  std::string* sinks[2] = {&result->out, &result->err};
  int fds[2] = {out_fd, err_fd};
  int status = 0;
  bool exited = false;
  for (;;) {
    pollfd polls[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    int r = poll(polls, 2, 20);
    for (int i = 0; i < 2 && r > 0; i++) {
      if (!(polls[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i], buf, sizeof(buf));
      if (n > 0) sinks[i]->append(buf, static_cast<size_t>(n));
      if (n == 0) fds[i] = -1;  // poll ignores negative descriptors
    }
    // Done when both pipes hit EOF and the child exited, or when it exited
    // and a grandchild keeps the pipes open with nothing more to read.
    if (!exited) exited = waitpid(pid, &status, WNOHANG) == pid;
    if (exited && ((fds[0] < 0 && fds[1] < 0) || r == 0)) return status;
    if (!exited && NowMs() >= deadline) {
      result->timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return status;
    }
  }
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         const std::string& cwd,
                         const std::map<std::string, std::string>& env) {
  CommandResult result;
  if (argv.empty()) {
    result.err = "empty argv";
    return result;
  }
  Prepared p;
  Prepare(argv, env, &p);
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pid = -1;
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || in < 0) {
    result.err = std::string("cannot create pipes: ") + strerror(errno);
  } else {
    pid = Spawn(p, cwd, in, out[1], err[1], &result.err);
  }
  for (int fd : {in, out[1], err[1]}) {
    if (fd >= 0) close(fd);
  }
  if (pid > 0) {
    int status = Capture(pid, out[0], err[0], timeout_ms, &result);
    kill(-pid, SIGKILL);  // whatever the command left in its group
    if (!result.timed_out) result.exit_code = ExitCode(status);
  }
  for (int fd : {out[0], err[0]}) {
    if (fd >= 0) close(fd);
  }
  return result;
}

}  // namespace bgctl::testing
