// A whole service for end-to-end tests: a real nginx from nginx/ in a
// temporary prefix, two free slot ports, a bgctl.yaml pointing at them and
// at backend-sample, and helpers to run the real bgctl binary. RAII: the
// destructor stops every backend-sample serving either slot (found in /proc,
// since backends run in their own sessions by design) and nginx, also when
// an assertion failed.
#ifndef BGCTL_TESTS_SUPPORT_SERVICE_H_
#define BGCTL_TESTS_SUPPORT_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/nginx_fixture.h"
#include "tests/support/process_guard.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {

// What a test's bgctl.yaml says; the defaults make a fast rollout.
struct ServiceOptions {
  std::string steps =
      "[{weight: 10, pause: 1s}, {weight: 50, pause: 1s}, {weight: 100}]";
  std::string backend_args;  // appended to backend-sample's argv, e.g. ",
                             // --error-rate, \"0.3\""
  std::string health =
      "{path: /healthz, interval: 50ms, timeout: 500ms, healthy_threshold: 2, "
      "deadline: 5s}";
  std::string drain = "{signal: SIGTERM, timeout: 10s}";
  std::string analysis =
      "{interval: 1s, min_requests: 20, failure_limit: 1, max_error_rate: "
      "0.05, max_p99_latency: 250ms, max_latency_ratio: 10}";
  std::string keep_previous = "0s";
  std::string hooks = "{timeout: 5s}";
  std::string extra_yaml;  // appended to bgctl.yaml, e.g. "metrics: {...}\n"
  // nginx.switch: "reload" (the shipped nginx.conf) or "lua" (the lua one,
  // client keep-alive on); with lua, `lua` is nginx.lua's flow map, e.g.
  // "{sticky_cookie: bgctl_canary}" ("" for none).
  std::string nginx_switch = "reload";
  std::string lua;
  // Extra lines of the `nginx:` section, e.g. "  upstream_keepalive: 32\n".
  std::string nginx_extra;
  // nginx.conf from nginx's listen port: a user's own configuration
  // (NginxFixture::StartWithConf). Empty: the shipped template.
  std::function<std::string(int port)> nginx_conf;
};

class Service {
 public:
  Service();
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Starts nginx and writes config_path() from `options`. False with *err.
  bool Start(const ServiceOptions& options, std::string* err);
  // Starts nginx with a configuration of the test's own (NginxFixture::
  // StartWith) and picks the two slot ports; writes no bgctl.yaml.
  bool StartUserNginx(const std::function<bool(int port)>& write,
                      std::string* err);
  // Writes another config file `name` in the same folder (same nginx, state
  // and ports) from `options`; returns its path.
  std::string WriteConfig(const std::string& name,
                          const ServiceOptions& options);

  // Runs `bgctl -c CONFIG ARGS...` to completion (60 s at most), with
  // `env` added to its environment.
  CommandResult Bgctl(const std::vector<std::string>& args,
                      const std::string& config = "",
                      const std::map<std::string, std::string>& env = {});
  // Starts `bgctl -c CONFIG ARGS...` in the background (output in log_file).
  bool StartBgctl(const std::vector<std::string>& args, ChildProcess* child,
                  const std::string& log_file, const std::string& config = "");

  // GET path through nginx over a new connection: the body, or "" on error.
  std::string Get(const std::string& path = "/", int* status = nullptr);

  // Pids of backend-sample processes serving `port` right now.
  std::vector<int> BackendPids(int port) const;
  // Stops every backend-sample on either slot port (SIGKILL).
  void KillBackends();

  NginxFixture& nginx() { return nginx_; }
  int port() const { return nginx_.port(); }
  int blue() const { return blue_; }
  int green() const { return green_; }
  const std::string& dir() const { return dir_.path(); }
  std::string config_path() const { return dir_.Path("bgctl.yaml"); }
  std::string state_path() const { return dir_.Path("state/state.json"); }

 private:
  TempDir dir_;
  NginxFixture nginx_;
  int blue_ = 0, green_ = 0;
};

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_SERVICE_H_
