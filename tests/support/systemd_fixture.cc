#include "tests/support/systemd_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tests/support/cgroups.h"
#include "tests/support/e2e.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {

namespace {

const char kSystemd[] = "/lib/systemd/systemd";
const char kUnshare[] = "/usr/bin/unshare";
const char kNsenter[] = "/usr/bin/nsenter";
const char kSetpriv[] = "/usr/bin/setpriv";
// The systemd tests' turn (SystemdTurn), one test process at a time: in the
// machine's /run, not a namespace's (it is taken before the boot).
const char kLockPath[] = "/run/lock/bgctl-systemd-tests.lock";

// The fixture's first program: joins the cgroups given before "--", then
// execs the rest (unshare, whose new cgroup namespace is rooted there).
const char kStartScript[] =
    "#!/bin/sh\n"
    "set -e\n"
    "while [ \"$1\" != -- ]; do echo $$ > \"$1/cgroup.procs\"; shift; done\n"
    "shift\n"
    "exec \"$@\"\n";

// The recipe of PITFALLS.md. The tmpfs mounts come BEFORE systemd: booted
// without private /tmp, /var/tmp and /run it deletes the host's /tmp. The
// cgroup file systems are mounted again first, on a tmpfs of the namespace:
// mounted inside the new cgroup namespace their root is the own cgroups, so
// systemd's "/" is there (the machine's tmpfs at /sys/fs/cgroup stays
// untouched: systemd adds folders to it otherwise).
const char kBootScript[] =
    "#!/bin/sh\n"
    "# PID 1's first program, inside unshare --cgroup --uts --ipc --pid "
    "--fork --mount --mount-proc.\n"
    "set -e\n"
    "mount --make-rprivate /\n"
    "cg=$(grep -E '^[^ ]+ /sys/fs/cgroup[/ ]' /proc/self/mounts || true)\n"
    "echo \"$cg\" | while read -r src dir type opts rest; do\n"
    "  [ -n \"$dir\" ] || continue\n"
    "  case $type in\n"
    "    cgroup|cgroup2) mkdir -p \"$dir\"; "
    "mount -t \"$type\" -o \"$opts\" \"$src\" \"$dir\" ;;\n"
    "    *) mount -t tmpfs -o mode=755 tmpfs \"$dir\" ;;\n"
    "  esac\n"
    "done\n"
    "mount --bind \"$1\" /etc/systemd/system\n"
    "for d in /run /tmp /var/tmp; do mount -t tmpfs tmpfs \"$d\"; done\n"
    "if [ -d /var/log/journal ]; then "
    "mount -t tmpfs tmpfs /var/log/journal; fi\n"
    "exec /usr/bin/setpriv --pdeathsig KILL /lib/systemd/systemd --system "
    "--unit=bgctl-test.target --log-target=null\n";

const char kTarget[] =
    "[Unit]\n"
    "Description=bgctl's end-to-end tests\n"
    "DefaultDependencies=no\n"
    "Wants=systemd-journald.socket systemd-journald.service\n"
    "After=systemd-journald.socket\n";

bool UnderVolatile(const std::string& path) {
  for (const char* dir : {"/tmp", "/run", "/var/tmp"}) {
    std::string d = dir;
    if (path == d || path.compare(0, d.size() + 1, d + "/") == 0) return true;
  }
  return false;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Forks and execs argv (absolute argv[0]) with output appended to `log`,
// in its own session, with SIGKILL when this thread exits. -1 on failure.
int SpawnWithDeathSignal(const std::vector<std::string>& argv,
                         const std::string& log) {
  std::vector<char*> cargv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: async-signal-safe calls only.
  setsid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  int in = open("/dev/null", O_RDONLY);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0) _exit(125);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
    for (int fd = 3; fd < 4096; ++fd) close(fd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  execv(cargv[0], cargv.data());
  _exit(127);
}

// The first pid in /proc/PID/task/PID/children, or 0.
int FirstChild(int pid) {
  std::string p = "/proc/" + std::to_string(pid) + "/task/" +
                  std::to_string(pid) + "/children";
  return std::atoi(ReadWholeFile(p).c_str());
}

// The PPid line of /proc/PID/status, or 0.
int ParentOf(int pid) {
  std::string status =
      ReadWholeFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("\nPPid:");
  return at == std::string::npos ? 0 : std::atoi(status.c_str() + at + 6);
}

}  // namespace

std::string SystemdTestsRoot(std::string* err) {
  const char* env = getenv("BGCTL_TEST_ROOT");
  std::string root =
      env != nullptr && env[0] != '\0' ? env : "/var/lib/bgctl-tests";
  if (root[0] != '/' || UnderVolatile(root)) {
    *err = "the systemd tests' folder \"" + root +
           "\" must be an absolute path outside /tmp, /run and /var/tmp "
           "(BGCTL_TEST_ROOT)";
    return "";
  }
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec || chmod(root.c_str(), 0700) != 0) {
    *err = "cannot make the systemd tests' folder " + root + ": " +
           (ec ? ec.message() : std::strerror(errno));
    return "";
  }
  return root;
}

TestRoot::TestRoot(const std::string& name) {
  namespace fs = std::filesystem;
  std::string base =
      fs::path(BGCTL_BIN).parent_path().string() + "/systemd-tests";
  std::error_code ec;
  fs::create_directories(base, ec);
  std::string tmpl = base + "/" + name + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return;
  chmod(tmpl.c_str(), 0755);  // nginx's workers (nobody) read below it
  path_ = tmpl;
}

TestRoot::~TestRoot() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

SystemdTurn::~SystemdTurn() {
  if (fd_ >= 0) close(fd_);
}

bool SystemdTurn::Take(std::string* err) {
  if (fd_ >= 0) return true;
  fd_ = open(kLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *err = std::string("cannot open ") + kLockPath;
    return false;
  }
  // Another test's systemd: wait for it (each runs for well under 4 min).
  for (int64_t end = NowMs() + 240000; NowMs() < end; SleepMs(50))
    if (flock(fd_, LOCK_EX | LOCK_NB) == 0) return true;
  *err =
      "another systemd test held " + std::string(kLockPath) + " for 4 minutes";
  close(fd_);
  fd_ = -1;
  return false;
}

SystemdFixture::SystemdFixture(const std::string& root, Turn turn)
    : root_(root), turn_(turn) {
  std::error_code ec;
  if (!root_.empty()) std::filesystem::create_directories(unit_dir(), ec);
}

SystemdFixture::~SystemdFixture() { Kill(); }

std::string SystemdFixture::CannotRun() const {
  std::string why = CannotRunHere();
  if (!why.empty()) return why;
  if (root_.empty() || root_[0] != '/' || UnderVolatile(root_))
    return "the test folder \"" + root_ +
           "\" must be outside /tmp, /run and /var/tmp";
  return "";
}

std::string SystemdFixture::CannotRunHere() {
  if (geteuid() != 0) return "systemd tests need root (unshare, mount)";
  for (const char* tool : {kSystemd, kUnshare, kNsenter, kSetpriv})
    if (access(tool, X_OK) != 0) return std::string("no ") + tool;
  static const std::string namespaces = [] {
    CommandResult r = RunCommand({kUnshare, "--cgroup", "--uts", "--ipc",
                                  "--pid", "--fork", "--mount", "true"},
                                 10000);
    return r.exit_code == 0 ? std::string()
                            : "cannot make namespaces here (unshare --cgroup "
                              "--uts --ipc --pid --mount): " +
                                  Trimmed(r.err);
  }();
  return namespaces;
}

bool SystemdFixture::WriteBootFiles(std::string* err) {
  std::error_code ec;
  std::filesystem::create_directories(unit_dir(), ec);
  if (!WriteWholeFile(root_ + "/start.sh", kStartScript) ||
      !WriteWholeFile(root_ + "/boot.sh", kBootScript) ||
      !WriteWholeFile(unit_dir() + "/bgctl-test.target", kTarget)) {
    *err = "cannot write the boot files in " + root_;
    return false;
  }
  return true;
}

bool SystemdFixture::Boot(std::string* err) {
  return Start(err) && WaitUp(err);
}

bool SystemdFixture::Start(std::string* err) {
  std::string why = CannotRun();
  if (!why.empty()) {
    *err = why;
    return false;
  }
  if (booted()) return true;
  if (turn_ == Turn::kTake && !my_turn_.Take(err)) return false;
  if (!WriteBootFiles(err)) return false;
  // Named after the root folder, unique while it exists (mkdtemp).
  std::string name = "bgctl-test" + root_;
  std::replace(name.begin(), name.end(), '/', '_');
  if (!MakeChildCgroups(name, &cgroups_, err)) {
    RemoveCgroups(cgroups_, 5000);
    cgroups_.clear();
    return false;
  }
  std::vector<std::string> argv = {"/bin/sh", root_ + "/start.sh"};
  argv.insert(argv.end(), cgroups_.begin(), cgroups_.end());
  argv.insert(argv.end(), {"--", kUnshare, "--cgroup", "--uts", "--ipc",
                           "--pid", "--fork", "--mount", "--mount-proc",
                           "/bin/sh", root_ + "/boot.sh", unit_dir()});
  unshare_pid_ = SpawnWithDeathSignal(argv, boot_log());
  if (unshare_pid_ <= 0) {
    *err = "cannot fork unshare";
    return false;
  }
  return true;
}

bool SystemdFixture::WaitUp(std::string* err) {
  if (unshare_pid_ <= 0) {
    *err = "systemd was not started";
    return false;
  }
  WaitFor([&] { return (pid1_ = FirstChild(unshare_pid_)) > 0; }, 5000);
  std::string state;
  bool up =
      pid1_ > 0 &&
      WaitFor(
          [&] {
            int status = 0;
            if (waitpid(unshare_pid_, &status, WNOHANG) == unshare_pid_) {
              unshare_pid_ = 0;
              return true;
            }
            state = Trimmed(Run({"systemctl", "is-system-running"}, 5000).out);
            return state == "running" || state == "degraded";
          },
          30000);
  if (up && unshare_pid_ > 0) return true;
  *err = "systemd did not come up (is-system-running: \"" + state +
         "\"); boot log: " + ReadWholeFile(boot_log());
  Kill();
  return false;
}

void SystemdFixture::Kill() {
  if (unshare_pid_ <= 0) {
    pid1_ = 0;
    RemoveCgroups(cgroups_, 5000);
    cgroups_.clear();
    return;
  }
  // PID 1 is unshare's child: checked, so a reused pid is never killed.
  if (pid1_ > 0 && ParentOf(pid1_) == unshare_pid_) kill(pid1_, SIGKILL);
  int status = 0;
  bool reaped = WaitFor(
      [&] { return waitpid(unshare_pid_, &status, WNOHANG) == unshare_pid_; },
      10000);
  if (!reaped) {
    kill(unshare_pid_, SIGKILL);
    waitpid(unshare_pid_, &status, 0);
  }
  unshare_pid_ = 0;
  pid1_ = 0;
  RemoveCgroups(cgroups_, 5000);
  cgroups_.clear();
}

bool SystemdFixture::Reboot(std::string* err) {
  Kill();
  return Boot(err);
}

std::vector<std::string> SystemdFixture::Inside(
    const std::vector<std::string>& argv, const std::string& cwd) const {
  std::vector<std::string> out = {kNsenter, "-t", std::to_string(pid1_),
                                  "-p",     "-m", "--wd=" + cwd};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

CommandResult SystemdFixture::Run(const std::vector<std::string>& argv,
                                  int timeout_ms, const std::string& cwd) {
  if (!booted()) {
    CommandResult r;
    r.err = "systemd is not booted";
    return r;
  }
  return RunCommand(Inside(argv, cwd), timeout_ms);
}

std::string SystemdFixture::Property(const std::string& unit,
                                     const std::string& prop) {
  return Trimmed(Run({"systemctl", "show", unit, "-p", prop, "--value"}).out);
}

}  // namespace bgctl::testing
