// bgctl.yaml: the configuration of one service (CONTRACT.md, "Configuration").
// LoadConfig parses and validates everything before any command runs.
#ifndef BGCTL_CONTROLLER_CONFIG_H_
#define BGCTL_CONTROLLER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bgctl {

// How traffic moves between the slots (nginx.switch): rewrite the upstream
// file and reload nginx (any nginx), or push the weights into nginx's Lua
// module without a reload.
enum class SwitchKind { kReload, kLua };

// nginx.lua: the lua switch's keys (only with nginx.switch: lua).
struct LuaSwitchConfig {
  // The loopback-only location that takes pushed splits (GET: the split
  // served now). Default: probe_url's host and port, path /__bgctl/split
  // (the only path allowed: the control location's).
  std::string control_url;
  // control_url split up by LoadConfig.
  std::string control_host;
  int control_port = 0;
  std::string control_path;
  // Where control_url is set, for messages: "FILE:LINE: nginx.lua.control_url"
  // (nginx.probe_url's line when it is the default).
  std::string control_url_where;
  // The request header that pins a request to stable ("never") or, carrying
  // the rollout's preview token (control_key.h), to the canary, whatever
  // the weight; "" (unset, or `preview_header: none`): off.
  std::string preview_header;
  // The cookie that keeps a user the canary served on it for the rest of
  // the rollout (its value is the rollout's id); "": off.
  std::string sticky_cookie;
};

struct NginxConfig {
  SwitchKind switch_kind = SwitchKind::kReload;
  LuaSwitchConfig lua;        // with switch_kind == kLua
  std::string upstream_file;  // absolute after loading
  std::string upstream_name;
  std::vector<std::string> test_command;    // run in Config::dir
  std::vector<std::string> reload_command;  // run in Config::dir
  std::string access_log;                   // absolute after loading
  std::string probe_url;                    // http://HOST:PORT/PATH
  // nginx.upstream_keepalive: the `keepalive N` bgctl writes into the
  // upstream; 0 (the default) writes none. Off unless asked because it is
  // safe only when every location that proxies to the upstream speaks
  // HTTP/1.1 with an empty Connection header (upstream_file.h).
  int upstream_keepalive = 0;
  // probe_url split up by LoadConfig.
  std::string probe_host;
  int probe_port = 0;
  std::string probe_path;
};

struct HealthConfig {
  std::string path = "/healthz";
  int64_t interval_ms = 200;
  int64_t timeout_ms = 1000;
  int healthy_threshold = 3;
  int64_t deadline_ms = 30000;
};

struct DrainConfig {
  int signal = 15;  // SIGTERM; config accepts SIGTERM, SIGINT, SIGQUIT,
                    // SIGUSR1, SIGUSR2, SIGHUP
  std::string signal_name = "SIGTERM";
  int64_t timeout_ms = 30000;  // then SIGKILL
};

// How a slot's instance runs (backend.runner): a process bgctl starts in its
// own session, or a systemd unit.
enum class RunnerKind { kProcess, kSystemd };

// backend.systemd: how the systemd runner names, writes and enables units
// (systemd_slot_runner.h).
struct SystemdConfig {
  // Where bgctl writes units and drop-ins; must be in systemd's unit search
  // path. Absolute.
  std::string unit_dir = "/etc/systemd/system";
  // A user's template unit ("demo@.service"): each slot runs as its instance
  // (demo@blue.service). "" : bgctl writes bgctl-SERVICE-SLOT.service from
  // backend.command, env and workdir.
  std::string template_unit;
  // The target whose .wants/ holds the slots that start at boot.
  std::string wanted_by = "multi-user.target";
  // User= of a written unit; "" : root (no User= line).
  std::string user;
};

struct BackendConfig {
  RunnerKind runner = RunnerKind::kProcess;
  // argv template; "{port}", "{version}" and "{slot}" are filled in. Empty
  // with backend.systemd.template (the template's ExecStart runs).
  std::vector<std::string> command;
  std::string workdir;  // absolute after loading
  std::map<std::string, std::string> env;
  HealthConfig health;
  DrainConfig drain;
  SystemdConfig systemd;
};

struct StepConfig {
  int weight = 0;              // percent on the canary, 1..100, increasing
  int64_t pause_ms = 0;        // hold time after the weight is confirmed
  bool pause_forever = false;  // `pause: forever`: stop and wait for promote
};

enum class OnNoData { kContinue, kRollback };

// How the canary is judged (judge.h): sequential tests (the default) or the
// fixed-window rule.
enum class AnalysisMethod { kSequential, kWindows };

// How much worse than stable the canary may be before a sequential test
// counts it as worse: relative to stable's figure, and at least `absolute`
// (a rate for errors, milliseconds for latency).
struct Margin {
  double relative = 0;
  double absolute = 0;
};

struct AnalysisConfig {
  AnalysisMethod method = AnalysisMethod::kSequential;
  // sequential: the probability of rolling back a canary no worse than
  // stable, per deploy, across every test, step, pause and promote.
  double alpha = 0.01;
  Margin error_margin{0.25, 0.001};  // 5xx rate: x1.25, and +0.1 points
  Margin latency_margin{0.25, 10};   // stable's p90: x1.25, and +10 ms
  // windows (and sequential: the cadence of evidence lines and CPU checks)
  int64_t interval_ms = 5000;
  int min_requests = 50;
  int failure_limit = 2;
  double max_error_rate = 0.01;
  int64_t max_p99_latency_ms = 500;
  double max_latency_ratio = 1.5;
  double max_cpu_percent = 85;
  OnNoData on_no_data = OnNoData::kContinue;
};

struct RolloutConfig {
  std::vector<StepConfig> steps;  // default 10/30s, 50/30s, 100
  int64_t keep_previous_ms = 0;
  AnalysisConfig analysis;
};

struct HooksConfig {
  int64_t timeout_ms = 30000;
  // argv templates; "{version}", "{slot}", "{port}", "{preview_url}" filled in.
  std::vector<std::string> pre_traffic;
  std::vector<std::string> post_promote;
  std::vector<std::string> on_rollback;
};

struct MetricsConfig {
  // Prometheus text exposition file, rewritten atomically at every state
  // change and analysis update (metrics.h); "" (no metrics section): none.
  // Absolute after loading; ends in .prom (node_exporter's textfile
  // collector reads only those).
  std::string textfile;
};

struct Config {
  std::string path;  // the config file as given
  std::string dir;   // absolute folder of the config file
  std::string service;
  std::string state_dir;  // absolute after loading
  NginxConfig nginx;
  int blue_port = 0;
  int green_port = 0;
  BackendConfig backend;
  RolloutConfig rollout;
  HooksConfig hooks;
  MetricsConfig metrics;

  // The port of "blue" or "green"; 0 for anything else.
  int PortOf(const std::string& slot) const;
};

// Reads and validates `path`. On any problem returns false with *err naming
// the file, line and key, e.g.
//   bgctl.yaml:12: rollout.steps[1].weight: must be greater than the previous
//   step's weight (10)
// Unknown keys, missing required keys, wrong types, bad durations, weights
// outside 1..100 or not increasing, equal slot ports and ports outside
// 1..65535 are all errors. Relative paths resolve against the file's folder.
bool LoadConfig(const std::string& path, Config* config, std::string* err);

// The largest config file bgctl reads; a longer text (or a file that never
// ends, such as /dev/zero) is an error "PATH: too large: more than 65536
// bytes (a bgctl config is at most 64 KiB)", which bounds yaml-cpp's memory.
constexpr size_t kMaxConfigBytes = 64 << 10;

// Parses config text as if read from `path` (for tests and `validate`).
bool ParseConfig(const std::string& text, const std::string& path,
                 Config* config, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_CONFIG_H_
