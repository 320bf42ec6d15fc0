#include "tests/support/nginx_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "tests/support/e2e.h"
#include "tests/support/ports.h"

namespace bgctl::testing {

namespace {

const char kNginx[] = "/usr/sbin/nginx";

// Forks and execs argv[0] (an absolute path) with stdin from /dev/null and
// stdout/stderr to `output_path`, and no other inherited descriptor (the
// test's own sockets must not leak into nginx). With `own_session` the child
// gets its own session and SIGTERM when this thread exits. Returns the pid,
// or -1.
pid_t SpawnChild(const std::vector<std::string>& argv,
                 const std::string& output_path, bool own_session) {
  std::vector<char*> cargv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: async-signal-safe calls only.
  if (own_session) {
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);
  }
  int in = open("/dev/null", O_RDONLY);
  int out = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0) _exit(125);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 4096; ++fd) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  execv(cargv[0], cargv.data());
  _exit(127);
}

// Runs argv to completion (at most 20 s); returns its exit code (-1 if
// killed or not started) and its output.
int RunToCompletion(const std::vector<std::string>& argv,
                    const std::string& output_path, std::string* output) {
  pid_t pid = SpawnChild(argv, output_path, /*own_session=*/false);
  if (pid < 0) return -1;
  int status = 0;
  int64_t deadline = NowMs() + 20000;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (NowMs() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    SleepMs(5);
  }
  *output = ReadWholeFile(output_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

NginxFixture::NginxFixture() : prefix_(dir_.path()) {}

NginxFixture::~NginxFixture() { Stop(); }

bool NginxFixture::LuaAvailable(std::string* why) {
  for (const char* path : {"/usr/lib/nginx/modules/ndk_http_module.so",
                           "/usr/lib/nginx/modules/ngx_http_lua_module.so",
                           "/usr/share/lua/5.1/resty/core.lua"}) {
    if (access(path, R_OK) != 0) {
      *why = std::string(path) +
             " is missing (install libnginx-mod-http-lua and lua-resty-core)";
      return false;
    }
  }
  return true;
}

bool NginxFixture::Start(const std::string& upstream_name, int initial_port,
                         std::string* err, bool lua_switch) {
  return StartWithConf(upstream_name, initial_port, nullptr, err, lua_switch);
}

bool NginxFixture::StartWithConf(
    const std::string& upstream_name, int initial_port,
    const std::function<std::string(int port)>& conf, std::string* err,
    bool lua_switch) {
  if (!dir_.ok()) {
    *err = "cannot create a temporary folder";
    return false;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = PickFreePort();
    if (port_ <= 0) {
      *err = "no free port";
      return false;
    }
    std::string output;
    std::vector<std::string> argv = {
        "/bin/bash",
        std::string(BGCTL_SOURCE_DIR) + "/scripts/nginx-prefix.sh"};
    if (lua_switch) argv.insert(argv.end(), {"--switch", "lua"});
    argv.insert(argv.end(), {prefix_, std::to_string(port_), upstream_name,
                             std::to_string(initial_port)});
    int code = RunToCompletion(argv, prefix_ + "/prefix-script.out", &output);
    if (code != 0) {
      *err = "scripts/nginx-prefix.sh exited with " + std::to_string(code) +
             ": " + output;
      return false;
    }
    if (conf && !WriteWholeFile(nginx_conf(), conf(port_))) {
      *err = "cannot write " + nginx_conf();
      return false;
    }
    bool port_taken = false;
    if (StartOnce(err, &port_taken)) return true;
    if (!port_taken) return false;
  }
  return false;
}

bool NginxFixture::StartWith(const std::function<bool(int port)>& write,
                             std::string* err) {
  if (!dir_.ok()) {
    *err = "cannot create a temporary folder";
    return false;
  }
  mkdir((prefix_ + "/logs").c_str(), 0755);
  mkdir((prefix_ + "/tmp").c_str(), 0755);
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = PickFreePort();
    if (port_ <= 0 || !write(port_)) {
      *err = port_ <= 0 ? "no free port" : "cannot write nginx.conf";
      return false;
    }
    bool port_taken = false;
    if (StartOnce(err, &port_taken)) return true;
    if (!port_taken) return false;
  }
  return false;
}

bool NginxFixture::StartOnce(std::string* err, bool* port_taken) {
  std::string out_path = prefix_ + "/logs/nginx.out";
  std::string pid_path = prefix_ + "/logs/nginx.pid";
  unlink(pid_path.c_str());
  pid_t pid = SpawnChild({kNginx, "-p", prefix_, "-c", nginx_conf(), "-e",
                          "stderr", "-g", "daemon off;"},
                         out_path, /*own_session=*/true);
  if (pid < 0) {
    *err = "cannot fork nginx";
    return false;
  }
  master_pid_ = pid;
  // nginx retries a busy port for 2.5 s before it gives up.
  int64_t deadline = NowMs() + 8000;
  while (NowMs() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      master_pid_ = 0;
      std::string output = ReadWholeFile(out_path);
      *port_taken = output.find("Address already in use") != std::string::npos;
      *err = "nginx exited at start with status " + std::to_string(status) +
             ": " + output;
      return false;
    }
    if (std::atoi(ReadWholeFile(pid_path).c_str()) == pid) {
      if (WaitForPort(port_, 2000)) return true;
      break;
    }
    SleepMs(5);
  }
  Stop();
  *err = "nginx did not start within 8 s: " + ReadWholeFile(out_path);
  return false;
}

void NginxFixture::Stop() {
  if (master_pid_ <= 0) return;
  pid_t pid = master_pid_;
  master_pid_ = 0;
  // The master is this process's unreaped child, so its pid (and process
  // group id) cannot have been reused.
  kill(pid, SIGTERM);
  int status = 0;
  int64_t deadline = NowMs() + 5000;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (NowMs() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return;
    }
    SleepMs(5);
  }
}

void NginxFixture::Kill() {
  if (master_pid_ <= 0) return;
  pid_t pid = master_pid_;
  master_pid_ = 0;
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  // The workers are gone with the group; wait until the port is free again.
  for (int i = 0; i < 300 && WaitForPort(port_, 1); ++i) SleepMs(10);
}

bool NginxFixture::Restart(std::string* err) {
  if (master_pid_ > 0) {
    *err = "nginx is still running";
    return false;
  }
  bool port_taken = false;
  return StartOnce(err, &port_taken);
}

std::string NginxFixture::probe_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/__bgctl/generation";
}

std::string NginxFixture::control_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/__bgctl/split";
}

std::vector<std::string> NginxFixture::test_command() const {
  return {kNginx, "-t", "-p", prefix_, "-c", nginx_conf(), "-e", "stderr"};
}

std::vector<std::string> NginxFixture::reload_command() const {
  return {kNginx, "-s",         "reload", "-p",    prefix_,
          "-c",   nginx_conf(), "-e",     "stderr"};
}

NginxConfig NginxFixture::MakeConfig(const std::string& upstream_name) const {
  NginxConfig cfg;
  cfg.upstream_file = upstream_file();
  cfg.upstream_name = upstream_name;
  cfg.test_command = test_command();
  cfg.reload_command = reload_command();
  cfg.access_log = access_log_path();
  cfg.probe_url = probe_url();
  cfg.probe_host = "127.0.0.1";
  cfg.probe_port = port_;
  cfg.probe_path = "/__bgctl/generation";
  return cfg;
}

std::vector<pid_t> NginxFixture::WorkerPids() const {
  std::vector<pid_t> pids;
  if (master_pid_ <= 0) return pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* e = readdir(proc)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat =
        ReadWholeFile("/proc/" + std::string(e->d_name) + "/stat");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == master_pid_ && state != "Z") pids.push_back(pid);
  }
  closedir(proc);
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace bgctl::testing
