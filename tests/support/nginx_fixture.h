// A real nginx (/usr/sbin/nginx) for tests and benchmarks, running from the
// shipped template in a temporary prefix (scripts/nginx-prefix.sh) on a free
// loopback port. RAII: the destructor stops nginx and removes the prefix,
// also when an assertion failed.
#ifndef BGCTL_TESTS_SUPPORT_NGINX_FIXTURE_H_
#define BGCTL_TESTS_SUPPORT_NGINX_FIXTURE_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "controller/config.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {

class NginxFixture {
 public:
  // Creates the temporary prefix; starts nothing.
  NginxFixture();
  // Stop(), then the prefix is removed.
  ~NginxFixture();
  NginxFixture(const NginxFixture&) = delete;
  NginxFixture& operator=(const NginxFixture&) = delete;

  // Renders the prefix (upstream `upstream_name`, whose placeholder server
  // 127.0.0.1:initial_port is `down`, generation 0) and starts nginx with
  // `daemon off` as a child of this process, in its own session (so the
  // whole process group can be signalled) and with SIGTERM as its
  // parent-death signal (sent when the thread that called Start exits, so
  // call it from the test's own thread). Returns once nginx has written its pid
  // file, which it does after binding its port. If the free port it picked was
  // taken in the meantime it retries with another, up to 3 times. Returns false
  // with *err (nginx's output) when nginx does not start. Call once.
  // With `lua_switch` the prefix is rendered for nginx.switch: lua
  // (`scripts/nginx-prefix.sh --switch lua`: the Lua module, client
  // keep-alive on, the control location at control_url()).
  bool Start(const std::string& upstream_name, int initial_port,
             std::string* err, bool lua_switch = false);
  // Like Start, but with a configuration of the test's own, as a user has
  // one: `write(port)` writes nginx_conf() (and what it includes) for a
  // server on 127.0.0.1:port; prefix()/logs and prefix()/tmp exist. False
  // with *err when `write` fails or nginx does not start. Call once.
  bool StartWith(const std::function<bool(int port)>& write, std::string* err);
  // True when this machine has what the lua switch needs (Debian's
  // libnginx-mod-http-lua and lua-resty-core); otherwise *why says what is
  // missing.
  static bool LuaAvailable(std::string* why);

  // Like Start, but nginx.conf is `conf(listen_port)` instead of the shipped
  // template: a user's own configuration, in the same prefix (logs/, tmp/,
  // bgctl_log_format.conf and the placeholder upstream.conf are there).
  bool StartWithConf(const std::string& upstream_name, int initial_port,
                     const std::function<std::string(int port)>& conf,
                     std::string* err, bool lua_switch = false);

  // Fast shutdown: SIGTERM to the master, which stops its workers; after
  // 5 s SIGKILL to the whole process group. Reaps the master. Idempotent.
  void Stop();

  // A crash: SIGKILL to nginx's whole process group (master and workers),
  // the master reaped. The prefix and its files stay. Idempotent.
  void Kill();

  // Starts nginx again on the same prefix and port after Stop() or Kill(),
  // reading the files as they are now (the upstream file bgctl wrote
  // included; nothing is rendered again). False with *err.
  bool Restart(std::string* err);

  bool running() const { return master_pid_ > 0; }
  int port() const { return port_; }
  pid_t master_pid() const { return master_pid_; }
  const std::string& prefix() const { return prefix_; }
  std::string nginx_conf() const { return prefix_ + "/nginx.conf"; }
  std::string upstream_file() const { return prefix_ + "/upstream.conf"; }
  std::string access_log_path() const { return prefix_ + "/logs/access.log"; }
  std::string error_log_path() const { return prefix_ + "/logs/error.log"; }
  std::string probe_url() const;
  std::string control_url() const;  // the lua switch's control location

  // argv with absolute paths, for bgctl configs and Nginx.
  std::vector<std::string> test_command() const;
  std::vector<std::string> reload_command() const;

  // An NginxConfig for this nginx: upstream file, name, commands, access
  // log and probe (split up as LoadConfig would).
  NginxConfig MakeConfig(const std::string& upstream_name) const;

  // The pids of the master's worker processes right now (old workers still
  // shutting down included), sorted.
  std::vector<pid_t> WorkerPids() const;

 private:
  bool StartOnce(std::string* err, bool* port_taken);

  TempDir dir_;
  std::string prefix_;
  int port_ = 0;
  pid_t master_pid_ = 0;
};

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_NGINX_FIXTURE_H_
