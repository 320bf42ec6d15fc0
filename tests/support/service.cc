#include "tests/support/service.h"

#include <dirent.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/ports.h"

namespace bgctl::testing {
namespace {

// The NUL-separated command line of a process, or "".
std::vector<std::string> Cmdline(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::string arg;
  while (std::getline(f, arg, '\0')) argv.push_back(arg);
  return argv;
}

}  // namespace

Service::Service() = default;

Service::~Service() {
  KillBackends();
  nginx_.Stop();
}

bool Service::Start(const ServiceOptions& options, std::string* err) {
  blue_ = PickFreePort();
  green_ = PickFreePort();
  if (!nginx_.StartWithConf("svc", blue_, options.nginx_conf, err,
                            options.nginx_switch == "lua"))
    return false;
  WriteConfig("bgctl.yaml", options);
  return true;
}

bool Service::StartUserNginx(const std::function<bool(int port)>& write,
                             std::string* err) {
  blue_ = PickFreePort();
  green_ = PickFreePort();
  return nginx_.StartWith(write, err);
}

std::string Service::WriteConfig(const std::string& name,
                                 const ServiceOptions& o) {
  auto list = [](const std::vector<std::string>& argv) {
    std::string s = "[";
    for (size_t i = 0; i < argv.size(); ++i)
      s += (i ? ", \"" : "\"") + argv[i] + "\"";
    return s + "]";
  };
  std::ostringstream y;
  y << "service: svc\n"
    << "state_dir: state\n"
    << "nginx:\n"
    << "  upstream_file: " << nginx_.upstream_file() << "\n"
    << "  upstream_name: svc\n"
    << "  test_command: " << list(nginx_.test_command()) << "\n"
    << "  reload_command: " << list(nginx_.reload_command()) << "\n"
    << "  access_log: " << nginx_.access_log_path() << "\n"
    << "  probe_url: " << nginx_.probe_url() << "\n"
    << "  switch: " << o.nginx_switch << "\n"
    << (o.lua.empty() ? "" : "  lua: " + o.lua + "\n") << o.nginx_extra
    << "slots:\n"
    << "  blue: {port: " << blue_ << "}\n"
    << "  green: {port: " << green_ << "}\n"
    << "backend:\n"
    << "  command: [\"" << BACKEND_SAMPLE_BIN
    << "\", --port, \"{port}\", --version, \"{version}\"" << o.backend_args
    << "]\n"
    << "  health: " << o.health << "\n"
    << "  drain: " << o.drain << "\n"
    << "rollout:\n"
    << "  steps: " << o.steps << "\n"
    << "  keep_previous: " << o.keep_previous << "\n"
    << "  analysis: " << o.analysis << "\n"
    << "hooks: " << o.hooks << "\n"
    << o.extra_yaml;
  std::string path = dir_.Path(name);
  WriteWholeFile(path, y.str());
  return path;
}

CommandResult Service::Bgctl(const std::vector<std::string>& args,
                             const std::string& config,
                             const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {BGCTL_BIN, "-c",
                                   config.empty() ? config_path() : config};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60000, dir_.path(), env);
}

bool Service::StartBgctl(const std::vector<std::string>& args,
                         ChildProcess* child, const std::string& log_file,
                         const std::string& config) {
  std::vector<std::string> argv = {BGCTL_BIN, "-c",
                                   config.empty() ? config_path() : config};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions o;
  o.cwd = dir_.path();
  o.stdout_path = log_file;
  o.stderr_path = log_file;
  std::string err;
  return child->Start(argv, o, &err);
}

std::string Service::Get(const std::string& path, int* status) {
  httplib::Client c("127.0.0.1", port());
  c.set_keep_alive(false);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto res = c.Get(path.c_str());
  if (status) *status = res ? res->status : 0;
  return res ? res->body : "";
}

std::vector<int> Service::BackendPids(int port) const {
  std::vector<int> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::vector<std::string> argv = Cmdline(pid);
    if (argv.empty() || argv[0] != BACKEND_SAMPLE_BIN) continue;
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == "--port" && argv[i + 1] == std::to_string(port))
        pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

void Service::KillBackends() {
  for (int port : {blue_, green_}) {
    if (port <= 0) continue;
    for (int pid : BackendPids(port)) kill(pid, SIGKILL);
  }
}

}  // namespace bgctl::testing
