#include "controller/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "controller/names.h"
#include "controller/placeholders.h"

namespace {

using bgctl::Config;

// The required keys only; line numbers below refer to this text.
const char kMinimal[] =
    "service: demo\n"                                          // 1
    "nginx:\n"                                                 // 2
    "  upstream_file: nginx/run/upstream.conf\n"               // 3
    "  upstream_name: demo_backend\n"                          // 4
    "  test_command: [nginx, -t]\n"                            // 5
    "  reload_command: [nginx, -s, reload]\n"                  // 6
    "  access_log: nginx/run/logs/access.log\n"                // 7
    "  probe_url: http://127.0.0.1:8080/__bgctl/generation\n"  // 8
    "slots:\n"                                                 // 9
    "  blue: {port: 8081}\n"                                   // 10
    "  green: {port: 8082}\n"                                  // 11
    "backend:\n"                                               // 12
    "  command: [backend-sample, --port, \"{port}\"]\n";       // 13

// kMinimal with the first `from` replaced by `to` (`from` must be there).
std::string With(const std::string& from, const std::string& to,
                 std::string text = kMinimal) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// The error ParseConfig gives for `text` read as "bgctl.yaml".
std::string ErrorOf(const std::string& text) {
  Config config;
  std::string err;
  bool ok = bgctl::ParseConfig(text, "bgctl.yaml", &config, &err);
  return ok ? "(no error)" : err;
}

// A fresh folder under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/bgctl-config-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("a config with only the required keys gets the documented defaults",
          "[config]") {
  Config c;
  std::string err;
  REQUIRE(bgctl::ParseConfig(kMinimal, "/srv/app/bgctl.yaml", &c, &err));
  CHECK(c.path == "/srv/app/bgctl.yaml");
  CHECK(c.dir == "/srv/app");
  CHECK(c.service == "demo");
  CHECK(c.state_dir == "/srv/app/.bgctl");
  CHECK(c.nginx.upstream_file == "/srv/app/nginx/run/upstream.conf");
  CHECK(c.nginx.access_log == "/srv/app/nginx/run/logs/access.log");
  CHECK(c.nginx.test_command == std::vector<std::string>{"nginx", "-t"});
  CHECK(c.nginx.probe_host == "127.0.0.1");
  CHECK(c.nginx.probe_port == 8080);
  CHECK(c.nginx.probe_path == "/__bgctl/generation");
  CHECK(c.nginx.upstream_keepalive == 0);
  CHECK(c.blue_port == 8081);
  CHECK(c.green_port == 8082);
  CHECK(c.backend.command ==
        std::vector<std::string>{"backend-sample", "--port", "{port}"});
  CHECK(c.backend.workdir == "/srv/app");
  CHECK(c.backend.env.empty());
  CHECK(c.backend.health.path == "/healthz");
  CHECK(c.backend.health.interval_ms == 200);
  CHECK(c.backend.health.timeout_ms == 1000);
  CHECK(c.backend.health.healthy_threshold == 3);
  CHECK(c.backend.health.deadline_ms == 30000);
  CHECK(c.backend.drain.signal == 15);
  CHECK(c.backend.drain.signal_name == "SIGTERM");
  CHECK(c.backend.drain.timeout_ms == 30000);
  REQUIRE(c.rollout.steps.size() == 3);
  CHECK(c.rollout.steps[0].weight == 10);
  CHECK(c.rollout.steps[0].pause_ms == 30000);
  CHECK(c.rollout.steps[1].weight == 50);
  CHECK(c.rollout.steps[1].pause_ms == 30000);
  CHECK(c.rollout.steps[2].weight == 100);
  CHECK(c.rollout.steps[2].pause_ms == 0);
  CHECK_FALSE(c.rollout.steps[2].pause_forever);
  CHECK(c.rollout.keep_previous_ms == 0);
  CHECK(c.rollout.analysis.interval_ms == 5000);
  CHECK(c.rollout.analysis.min_requests == 50);
  CHECK(c.rollout.analysis.failure_limit == 2);
  CHECK(c.rollout.analysis.max_error_rate == 0.01);
  CHECK(c.rollout.analysis.max_p99_latency_ms == 500);
  CHECK(c.rollout.analysis.max_latency_ratio == 1.5);
  CHECK(c.rollout.analysis.max_cpu_percent == 85);
  CHECK(c.rollout.analysis.on_no_data == bgctl::OnNoData::kContinue);
  CHECK(c.hooks.timeout_ms == 30000);
  CHECK(c.hooks.pre_traffic.empty());
  CHECK(c.hooks.post_promote.empty());
  CHECK(c.hooks.on_rollback.empty());
  CHECK(c.PortOf("blue") == 8081);
  CHECK(c.PortOf("green") == 8082);
  CHECK(c.PortOf("") == 0);
  CHECK(c.PortOf("red") == 0);
}

TEST_CASE("relative paths resolve against the config file's folder",
          "[config]") {
  std::string text = With("upstream_file: nginx/run/upstream.conf",
                          "upstream_file: /etc/nginx/bgctl/upstream.conf");
  text = With("access_log: nginx/run/logs/access.log",
              "access_log: ../logs/./access.log", text);
  text += "  workdir: app/\nstate_dir: ../state\n";
  Config c;
  std::string err;
  REQUIRE(bgctl::ParseConfig(text, "/srv/demo/conf/bgctl.yaml", &c, &err));
  CHECK(c.dir == "/srv/demo/conf");
  CHECK(c.nginx.upstream_file == "/etc/nginx/bgctl/upstream.conf");
  CHECK(c.nginx.access_log == "/srv/demo/logs/access.log");
  CHECK(c.backend.workdir == "/srv/demo/conf/app");
  CHECK(c.state_dir == "/srv/demo/state");

  // A config path relative to the working folder gives an absolute dir.
  REQUIRE(bgctl::ParseConfig(kMinimal, "conf/../deploy/bgctl.yaml", &c, &err));
  std::string cwd = std::filesystem::current_path().string();
  CHECK(c.dir == cwd + "/deploy");
  CHECK(c.state_dir == cwd + "/deploy/.bgctl");
  REQUIRE(bgctl::ParseConfig(kMinimal, "bgctl.yaml", &c, &err));
  CHECK(c.dir == cwd);
}

TEST_CASE("a complete config file is read back field by field", "[config]") {
  TempDir dir;
  std::string path = dir.path + "/bgctl.yaml";
  std::ofstream(path) << R"(service: shop-api.v2
state_dir: /var/lib/bgctl/shop
nginx:
  upstream_file: nginx/run/upstream.conf
  upstream_name: shop_backend
  test_command:   [nginx, -t, -p, nginx/run, -c, nginx.conf]
  reload_command: [nginx, -s, reload, -p, nginx/run, -c, nginx.conf]
  access_log: nginx/run/logs/access.log
  probe_url: http://localhost:9090/__bgctl/generation
slots:
  blue:  {port: 9091}
  green: {port: 9092}
backend:
  command: [build/backend-sample/backend-sample, --port, "{port}", --version, "{version}"]
  workdir: .
  env: {APP_ENV: production, WORKERS: 4}
  health:
    path: /ready
    interval: 250ms
    timeout: 2s
    healthy_threshold: 5
    deadline: 1m
  drain:
    signal: SIGQUIT
    timeout: 45s
rollout:
  steps:
    - {weight: 5, pause: 1m}
    - weight: 25
      pause: forever
    - {weight: 100, pause: 10s}
  keep_previous: 5m
  analysis:
    interval: 2s
    min_requests: 20
    failure_limit: 3
    max_error_rate: 0.05
    max_p99_latency: 1.5s
    max_latency_ratio: 2
    max_cpu_percent: 90.5
    on_no_data: rollback
hooks:
  timeout: 10s
  pre_traffic: [scripts/smoke.sh, "{preview_url}"]
  post_promote: [scripts/notify.sh, "{version}"]
  on_rollback: []
)";
  Config c;
  std::string err;
  REQUIRE(bgctl::LoadConfig(path, &c, &err));
  CHECK(c.path == path);
  CHECK(c.dir == dir.path);
  CHECK(c.service == "shop-api.v2");
  CHECK(c.state_dir == "/var/lib/bgctl/shop");
  CHECK(c.nginx.upstream_file == dir.path + "/nginx/run/upstream.conf");
  CHECK(c.nginx.upstream_name == "shop_backend");
  CHECK(c.nginx.test_command == std::vector<std::string>{"nginx", "-t", "-p",
                                                         "nginx/run", "-c",
                                                         "nginx.conf"});
  CHECK(c.nginx.reload_command ==
        std::vector<std::string>{"nginx", "-s", "reload", "-p", "nginx/run",
                                 "-c", "nginx.conf"});
  CHECK(c.nginx.access_log == dir.path + "/nginx/run/logs/access.log");
  CHECK(c.nginx.probe_url == "http://localhost:9090/__bgctl/generation");
  CHECK(c.nginx.probe_host == "localhost");
  CHECK(c.nginx.probe_port == 9090);
  CHECK(c.nginx.probe_path == "/__bgctl/generation");
  CHECK(c.blue_port == 9091);
  CHECK(c.green_port == 9092);
  CHECK(c.backend.command ==
        std::vector<std::string>{"build/backend-sample/backend-sample",
                                 "--port", "{port}", "--version", "{version}"});
  CHECK(c.backend.workdir == dir.path);
  CHECK(c.backend.env == std::map<std::string, std::string>{
                             {"APP_ENV", "production"}, {"WORKERS", "4"}});
  CHECK(c.backend.health.path == "/ready");
  CHECK(c.backend.health.interval_ms == 250);
  CHECK(c.backend.health.timeout_ms == 2000);
  CHECK(c.backend.health.healthy_threshold == 5);
  CHECK(c.backend.health.deadline_ms == 60000);
  CHECK(c.backend.drain.signal == 3);
  CHECK(c.backend.drain.signal_name == "SIGQUIT");
  CHECK(c.backend.drain.timeout_ms == 45000);
  REQUIRE(c.rollout.steps.size() == 3);
  CHECK(c.rollout.steps[0].weight == 5);
  CHECK(c.rollout.steps[0].pause_ms == 60000);
  CHECK_FALSE(c.rollout.steps[0].pause_forever);
  CHECK(c.rollout.steps[1].weight == 25);
  CHECK(c.rollout.steps[1].pause_forever);
  CHECK(c.rollout.steps[2].weight == 100);
  CHECK(c.rollout.steps[2].pause_ms == 10000);
  CHECK(c.rollout.keep_previous_ms == 300000);
  const bgctl::AnalysisConfig& a = c.rollout.analysis;
  CHECK(a.interval_ms == 2000);
  CHECK(a.min_requests == 20);
  CHECK(a.failure_limit == 3);
  CHECK(a.max_error_rate == 0.05);
  CHECK(a.max_p99_latency_ms == 1500);
  CHECK(a.max_latency_ratio == 2.0);
  CHECK(a.max_cpu_percent == 90.5);
  CHECK(a.on_no_data == bgctl::OnNoData::kRollback);
  CHECK(c.hooks.timeout_ms == 10000);
  CHECK(c.hooks.pre_traffic ==
        std::vector<std::string>{"scripts/smoke.sh", "{preview_url}"});
  CHECK(c.hooks.post_promote ==
        std::vector<std::string>{"scripts/notify.sh", "{version}"});
  CHECK(c.hooks.on_rollback.empty());
}

TEST_CASE("a config file that cannot be read is named with the reason",
          "[config]") {
  TempDir dir;
  Config c;
  std::string err;
  CHECK_FALSE(bgctl::LoadConfig(dir.path + "/bgctl.yaml", &c, &err));
  CHECK(err ==
        "cannot read " + dir.path + "/bgctl.yaml: No such file or directory");
  CHECK_FALSE(bgctl::LoadConfig(dir.path, &c, &err));
  CHECK(err == "cannot read " + dir.path + ": Is a directory");
}

TEST_CASE("a yaml syntax error names the file and line", "[config]") {
  CHECK(ErrorOf("service: demo\nnginx:\n  upstream_file: [a, b\n") ==
        "bgctl.yaml:4: yaml syntax error: end of sequence flow not found");
  CHECK(ErrorOf("service: demo\n  bad: indent\n") ==
        "bgctl.yaml:2: yaml syntax error: illegal map value");
}

TEST_CASE("unknown keys are errors wherever they are", "[config]") {
  CHECK(ErrorOf(With("upstream_file:", "upstream_fil:")) ==
        "bgctl.yaml:3: nginx.upstream_fil: unknown key");
  CHECK(ErrorOf(std::string(kMinimal) + "sevrice: demo\n") ==
        "bgctl.yaml:14: sevrice: unknown key");
  CHECK(ErrorOf(With("{port: 8082}", "{port: 8082, host: x}")) ==
        "bgctl.yaml:11: slots.green.host: unknown key");
  CHECK(ErrorOf(std::string(kMinimal) +
                "rollout:\n  steps:\n    - {weight: 10}\n"
                "    - {weight: 100, puase: 1s}\n") ==
        "bgctl.yaml:17: rollout.steps[1].puase: unknown key");
  CHECK(ErrorOf(std::string(kMinimal) + "  health: {path: /h, retries: 3}\n") ==
        "bgctl.yaml:14: backend.health.retries: unknown key");
  CHECK(ErrorOf(std::string(kMinimal) + "service: again\n") ==
        "bgctl.yaml:14: service: duplicate key");
}

TEST_CASE("a missing required key is reported at its parent's line",
          "[config]") {
  CHECK(ErrorOf(With("service: demo\n", "")) ==
        "bgctl.yaml:1: service: missing required key");
  CHECK(ErrorOf(With("  probe_url: http://127.0.0.1:8080/__bgctl/generation\n",
                     "")) ==
        "bgctl.yaml:2: nginx.probe_url: missing required key");
  CHECK(ErrorOf(With("  green: {port: 8082}\n", "")) ==
        "bgctl.yaml:9: slots.green: missing required key");
  CHECK(ErrorOf(With("{port: 8081}", "{}")) ==
        "bgctl.yaml:10: slots.blue.port: missing required key");
  CHECK(ErrorOf(With("backend:\n  command: [backend-sample, --port, "
                     "\"{port}\"]\n",
                     "")) == "bgctl.yaml:1: backend: missing required key");
  CHECK(ErrorOf(std::string(kMinimal) +
                "rollout:\n  steps:\n    - {pause: 1s}\n") ==
        "bgctl.yaml:16: rollout.steps[0].weight: missing required key");
  CHECK(ErrorOf("") == "bgctl.yaml:1: service: missing required key");
}

TEST_CASE("a value of the wrong type names the expected type", "[config]") {
  CHECK(ErrorOf(With("test_command: [nginx, -t]", "test_command: nginx -t")) ==
        "bgctl.yaml:5: nginx.test_command: expected a list of strings");
  CHECK(ErrorOf(
            With("test_command: [nginx, -t]", "test_command: [nginx, [-t]]")) ==
        "bgctl.yaml:5: nginx.test_command: expected a list of strings");
  CHECK(ErrorOf(With("test_command: [nginx, -t]", "test_command: []")) ==
        "bgctl.yaml:5: nginx.test_command: must not be empty");
  CHECK(ErrorOf(With("  command: [backend-sample, --port, \"{port}\"]",
                     "  command:")) ==
        "bgctl.yaml:13: backend.command: must not be empty");
  CHECK(ErrorOf(With("{port: 8081}", "{port: eighty}")) ==
        "bgctl.yaml:10: slots.blue.port: expected an integer");
  CHECK(ErrorOf(With("{port: 8081}", "{port: 8081.5}")) ==
        "bgctl.yaml:10: slots.blue.port: expected an integer");
  CHECK(ErrorOf(With("service: demo", "service: {name: demo}")) ==
        "bgctl.yaml:1: service: expected a string");
  CHECK(ErrorOf(With("service: demo", "service:")) ==
        "bgctl.yaml:1: service: expected a string");
  CHECK(ErrorOf(With("slots:\n  blue: {port: 8081}\n  green: {port: 8082}\n",
                     "slots: [blue, green]\n")) ==
        "bgctl.yaml:9: slots: expected a map");
  CHECK(ErrorOf(std::string(kMinimal) +
                "rollout:\n  analysis: {max_error_rate: high}\n") ==
        "bgctl.yaml:15: rollout.analysis.max_error_rate: expected a number");
  CHECK(ErrorOf(std::string(kMinimal) + "rollout:\n  steps: {weight: 100}\n") ==
        "bgctl.yaml:15: rollout.steps: expected a list");
  CHECK(ErrorOf(std::string(kMinimal) + "  env: {A: [1]}\n") ==
        "bgctl.yaml:14: backend.env.A: expected a string");
  CHECK(ErrorOf(std::string(kMinimal) + "  env: {1A: x}\n") ==
        "bgctl.yaml:14: backend.env.1A: invalid environment variable name");
}

TEST_CASE("a bad duration is quoted with the units allowed", "[config]") {
  CHECK(ErrorOf(std::string(kMinimal) + "  health:\n    interval: 5x\n") ==
        "bgctl.yaml:15: backend.health.interval: bad duration \"5x\": "
        "expected a number and a unit (ms, s, m, h)");
  CHECK(ErrorOf(std::string(kMinimal) + "hooks: {timeout: 30}\n") ==
        "bgctl.yaml:14: hooks.timeout: bad duration \"30\": "
        "expected a number and a unit (ms, s, m, h)");
  CHECK(ErrorOf(std::string(kMinimal) + "  health: {timeout: 0s}\n") ==
        "bgctl.yaml:14: backend.health.timeout: must be greater than 0");
  CHECK(ErrorOf(std::string(kMinimal) +
                "rollout:\n  steps: [{weight: 100, pause: soon}]\n") ==
        "bgctl.yaml:15: rollout.steps[0].pause: bad duration \"soon\": "
        "expected a number and a unit (ms, s, m, h)");
}

TEST_CASE("step weights must be 1..100, increasing, and end at 100",
          "[config]") {
  std::string base = std::string(kMinimal) + "rollout:\n  steps:\n";  // 14, 15
  CHECK(ErrorOf(base + "    - {weight: 50}\n    - {weight: 50}\n"
                       "    - {weight: 100}\n") ==
        "bgctl.yaml:17: rollout.steps[1].weight: must be greater than the "
        "previous step's weight (50)");
  CHECK(ErrorOf(base + "    - {weight: 0}\n    - {weight: 100}\n") ==
        "bgctl.yaml:16: rollout.steps[0].weight: must be between 1 and 100");
  CHECK(ErrorOf(base + "    - {weight: 10}\n    - {weight: 101}\n") ==
        "bgctl.yaml:17: rollout.steps[1].weight: must be between 1 and 100");
  CHECK(ErrorOf(base + "    - {weight: 10}\n    - {weight: 50}\n") ==
        "bgctl.yaml:17: rollout.steps[1].weight: the last step must have "
        "weight 100 (got 50)");
  CHECK(ErrorOf(base + "    - {weight: 12.5}\n    - {weight: 100}\n") ==
        "bgctl.yaml:16: rollout.steps[0].weight: expected an integer");
  CHECK(ErrorOf(base + "    - 10\n    - {weight: 100}\n") ==
        "bgctl.yaml:16: rollout.steps[0]: expected a map");
  CHECK(ErrorOf(std::string(kMinimal) + "rollout:\n  steps: []\n") ==
        "bgctl.yaml:15: rollout.steps: must not be empty");
  // A single step straight to 100 is a plain blue/green switch.
  Config c;
  std::string err;
  REQUIRE(bgctl::ParseConfig(base + "    - {weight: 100, pause: forever}\n",
                             "bgctl.yaml", &c, &err));
  REQUIRE(c.rollout.steps.size() == 1);
  CHECK(c.rollout.steps[0].pause_forever);
}

TEST_CASE("slot ports must be distinct valid ports", "[config]") {
  CHECK(ErrorOf(With("{port: 8082}", "{port: 8081}")) ==
        "bgctl.yaml:11: slots.green.port: same port as slots.blue.port (8081)");
  CHECK(ErrorOf(With("{port: 8081}", "{port: 0}")) ==
        "bgctl.yaml:10: slots.blue.port: must be between 1 and 65535");
  // A number with spaces or a sign around it is not a port.
  CHECK(ErrorOf(With("{port: 8081}", "{port: \" 80\"}")) ==
        "bgctl.yaml:10: slots.blue.port: expected an integer");
  CHECK(ErrorOf(With("{port: 8081}", "{port: \"80 \"}")) ==
        "bgctl.yaml:10: slots.blue.port: expected an integer");
  CHECK(ErrorOf(With("{port: 8082}", "{port: 65536}")) ==
        "bgctl.yaml:11: slots.green.port: must be between 1 and 65535");
  CHECK(ErrorOf(With("{port: 8081}", "{port: 8080}")) ==
        "bgctl.yaml:10: slots.blue.port: same port as nginx.probe_url (8080)");
}

TEST_CASE("enumerations, ranges, names and URLs are checked", "[config]") {
  std::string m = kMinimal;
  CHECK(ErrorOf(m + "  drain: {signal: SIGKILL}\n") ==
        "bgctl.yaml:14: backend.drain.signal: unknown signal \"SIGKILL\": use "
        "one of SIGTERM SIGINT SIGQUIT SIGHUP SIGUSR1 SIGUSR2");
  CHECK(ErrorOf(m + "rollout:\n  analysis: {on_no_data: wait}\n") ==
        "bgctl.yaml:15: rollout.analysis.on_no_data: expected continue or "
        "rollback, got \"wait\"");
  CHECK(ErrorOf(m + "rollout:\n  analysis: {max_error_rate: 1.5}\n") ==
        "bgctl.yaml:15: rollout.analysis.max_error_rate: must be between 0 "
        "and 1");
  CHECK(ErrorOf(m + "rollout:\n  analysis: {max_latency_ratio: 0}\n") ==
        "bgctl.yaml:15: rollout.analysis.max_latency_ratio: must be greater "
        "than 0");
  CHECK(ErrorOf(m + "rollout:\n  analysis: {min_requests: 0}\n") ==
        "bgctl.yaml:15: rollout.analysis.min_requests: must be at least 1");
  CHECK(ErrorOf(m + "rollout:\n  analysis: {failure_limit: -1}\n") ==
        "bgctl.yaml:15: rollout.analysis.failure_limit: must be at least 1");
  CHECK(ErrorOf(m + "  health: {healthy_threshold: 0}\n") ==
        "bgctl.yaml:14: backend.health.healthy_threshold: must be at least 1");
  CHECK(ErrorOf(m + "  health: {path: healthz}\n") ==
        "bgctl.yaml:14: backend.health.path: must start with /");
  CHECK(ErrorOf(With("service: demo", "service: my demo")) ==
        "bgctl.yaml:1: service: invalid service name \"my demo\": use 1-64 "
        "characters of A-Z a-z 0-9 . _ -");
  CHECK(ErrorOf(With("upstream_name: demo_backend", "upstream_name: a;b")) ==
        "bgctl.yaml:4: nginx.upstream_name: invalid name \"a;b\": use 1-64 "
        "characters of A-Z a-z 0-9 . _ -");
  for (const char* url : {"https://127.0.0.1:8080/x", "http://127.0.0.1/x",
                          "http://:80/x", "http://127.0.0.1:8080",
                          "http://127.0.0.1:0/x", "http://127.0.0.1:http/x"}) {
    CHECK(ErrorOf(With("http://127.0.0.1:8080/__bgctl/generation", url)) ==
          std::string("bgctl.yaml:8: nginx.probe_url: bad URL \"") + url +
              "\": expected http://HOST:PORT/PATH");
  }
}

TEST_CASE("versions are 1-64 characters of a safe alphabet", "[config]") {
  std::string err;
  CHECK(bgctl::ValidateVersion("v1.2.3-rc_1", &err));
  CHECK(bgctl::ValidateVersion(std::string(64, 'a'), &err));
  for (std::string bad :
       {std::string("v 2"), std::string(""), std::string(65, 'a'),
        std::string("v2;rm"), std::string("../v2"), std::string("v{port}")}) {
    CHECK_FALSE(bgctl::ValidateVersion(bad, &err));
    CHECK(err == "invalid version \"" + bad +
                     "\": use 1-64 characters of A-Z a-z 0-9 . _ -, not . "
                     "or ..");
  }
}

TEST_CASE("placeholders are filled inside single argv elements", "[config]") {
  std::vector<std::string> argv = {"bin/app",
                                   "--listen=127.0.0.1:{port}",
                                   "{version}",
                                   "{unknown}",
                                   "{",
                                   "a}{b",
                                   "{slot}{slot}",
                                   "{{port}}"};
  std::vector<std::string> out = bgctl::FillPlaceholders(
      argv, {{"port", "8081"}, {"version", "v 2; rm -rf /"}, {"slot", "blue"}});
  CHECK(out == std::vector<std::string>{"bin/app", "--listen=127.0.0.1:8081",
                                        "v 2; rm -rf /", "{unknown}", "{",
                                        "a}{b", "blueblue", "{8081}"});
  // A filled-in value is never expanded again.
  CHECK(bgctl::FillPlaceholders({"{a}"}, {{"a", "{b}"}, {"b", "x"}}) ==
        std::vector<std::string>{"{b}"});
}

TEST_CASE(
    "a config text over 64 KiB is refused before yaml-cpp parses it, and a "
    "file that never ends is not read to its end",
    "[config]") {
  std::string padded = std::string(kMinimal) + "#";
  padded += std::string(bgctl::kMaxConfigBytes - padded.size(), 'x');
  REQUIRE(padded.size() == bgctl::kMaxConfigBytes);
  CHECK(ErrorOf(padded) == "(no error)");
  const std::string too_large =
      "bgctl.yaml: too large: more than 65536 bytes (a bgctl config is at "
      "most 64 KiB)";
  CHECK(ErrorOf(padded + "x") == too_large);
  // The shape that took yaml-cpp 520 MB at 400 KB.
  std::string flow = "service: [";
  while (flow.size() < 400000) flow += "{},";
  CHECK(ErrorOf(flow + "{}]") == too_large);

  Config config;
  std::string err;
  CHECK_FALSE(bgctl::LoadConfig("/dev/zero", &config, &err));
  CHECK(err ==
        "/dev/zero: too large: more than 65536 bytes (a bgctl config is at "
        "most 64 KiB)");
}

TEST_CASE("backend.systemd: defaults, a template, and every key read",
          "[config][systemd_unit]") {
  Config c;
  std::string err;
  REQUIRE(
      bgctl::ParseConfig(With("backend:\n", "backend:\n  runner: systemd\n"),
                         "bgctl.yaml", &c, &err));
  CHECK(c.backend.runner == bgctl::RunnerKind::kSystemd);
  CHECK(c.backend.systemd.unit_dir == "/etc/systemd/system");
  CHECK(c.backend.systemd.template_unit.empty());
  CHECK(c.backend.systemd.wanted_by == "multi-user.target");
  CHECK(c.backend.systemd.user.empty());
  std::string all = With("backend:\n",
                         "backend:\n  runner: systemd\n  systemd:\n"
                         "    unit_dir: /run/systemd/system\n"
                         "    wanted_by: bgctl-test.target\n"
                         "    user: www-data\n");
  REQUIRE(bgctl::ParseConfig(all, "bgctl.yaml", &c, &err));
  CHECK(c.backend.systemd.unit_dir == "/run/systemd/system");
  CHECK(c.backend.systemd.wanted_by == "bgctl-test.target");
  CHECK(c.backend.systemd.user == "www-data");
  // A template replaces backend.command.
  std::string tmpl =
      With("  command: [backend-sample, --port, \"{port}\"]\n",
           "  runner: systemd\n  systemd: {template: demo@.service}\n");
  REQUIRE(bgctl::ParseConfig(tmpl, "bgctl.yaml", &c, &err));
  CHECK(c.backend.systemd.template_unit == "demo@.service");
  CHECK(c.backend.command.empty());
}

TEST_CASE("bad backend.systemd keys name file, line and key",
          "[config][systemd_unit]") {
  auto with_systemd = [](const std::string& body) {
    return With("backend:\n", "backend:\n  runner: systemd\n  systemd:\n" +
                                  body);  // systemd's keys start at line 15
  };
  CHECK(ErrorOf(with_systemd("    unit_dir: etc/units\n")) ==
        "bgctl.yaml:15: backend.systemd.unit_dir: must be an absolute path");
  CHECK(ErrorOf(with_systemd("    template: demo.service\n")) ==
        "bgctl.yaml:15: backend.systemd.template: invalid template unit "
        "\"demo.service\": expected NAME@.service, NAME of A-Z a-z 0-9 . _ - "
        "not starting with . or -");
  CHECK(
      ErrorOf(with_systemd("    template: \"a b@.service\"\n"))
          .find("bgctl.yaml:15: backend.systemd.template: invalid template") ==
      0);
  CHECK(ErrorOf(with_systemd("    wanted_by: multi-user\n")) ==
        "bgctl.yaml:15: backend.systemd.wanted_by: invalid target "
        "\"multi-user\": expected NAME.target, NAME of A-Z a-z 0-9 . _ - not "
        "starting with . or -");
  CHECK(ErrorOf(with_systemd("    user: \"1root\"\n")) ==
        "bgctl.yaml:15: backend.systemd.user: invalid user name \"1root\"");
  CHECK(ErrorOf(with_systemd("    slice: x\n"))
            .find("bgctl.yaml:15: backend.systemd.slice") == 0);
  CHECK(ErrorOf(with_systemd("    template: demo@.service\n")) ==
        "bgctl.yaml:16: backend.command: not used with "
        "backend.systemd.template (the template's ExecStart and "
        "WorkingDirectory run): remove it");
  CHECK(ErrorOf(With("backend:\n", "backend:\n  systemd: {}\n")) ==
        "bgctl.yaml:13: backend.systemd: only used with backend.runner: "
        "systemd");
  CHECK(ErrorOf(With("  command: [backend-sample, --port, \"{port}\"]\n",
                     "  runner: process\n")) ==
        "bgctl.yaml:12: backend.command: missing required key");
}

TEST_CASE(
    "metrics.textfile is optional and resolves against the config's "
    "folder",
    "[config]") {
  Config config;
  std::string err;
  REQUIRE(bgctl::ParseConfig(kMinimal, "/srv/demo/bgctl.yaml", &config, &err));
  CHECK(config.metrics.textfile.empty());
  REQUIRE(bgctl::ParseConfig(
      std::string(kMinimal) + "metrics:\n  textfile: metrics/demo.prom\n",
      "/srv/demo/bgctl.yaml", &config, &err));
  CHECK(config.metrics.textfile == "/srv/demo/metrics/demo.prom");
  REQUIRE(bgctl::ParseConfig(
      std::string(kMinimal) +
          "metrics: {textfile: /var/lib/node_exporter/textfile/demo.prom}\n",
      "/srv/demo/bgctl.yaml", &config, &err));
  CHECK(config.metrics.textfile == "/var/lib/node_exporter/textfile/demo.prom");
}

TEST_CASE(
    "a metrics.textfile not ending in .prom, a missing one and an "
    "unknown metrics key name the file, line and key",
    "[config]") {
  CHECK(ErrorOf(std::string(kMinimal) + "metrics:\n  textfile: demo.txt\n") ==
        "bgctl.yaml:15: metrics.textfile: \"demo.txt\" must be a file name "
        "ending in .prom (node_exporter's textfile collector reads only "
        "those)");
  CHECK(ErrorOf(std::string(kMinimal) + "metrics:\n  textfile: dir/.prom\n") ==
        "bgctl.yaml:15: metrics.textfile: \"dir/.prom\" must be a file name "
        "ending in .prom (node_exporter's textfile collector reads only "
        "those)");
  CHECK(ErrorOf(std::string(kMinimal) + "metrics: {}\n")
            .rfind("bgctl.yaml:14: metrics.textfile: ", 0) == 0);
  CHECK(ErrorOf(std::string(kMinimal) +
                "metrics:\n  textfile: a.prom\n  port: 9100\n")
            .rfind("bgctl.yaml:16: metrics.port: ", 0) == 0);
}

TEST_CASE(
    "nginx.upstream_keepalive is off by default, read when set, and a bad "
    "value names its file, line and key",
    "[config]") {
  const std::string key = "  upstream_name: demo_backend\n";
  Config c;
  std::string err;
  REQUIRE(bgctl::ParseConfig(With(key, key + "  upstream_keepalive: 32\n"),
                             "bgctl.yaml", &c, &err));
  CHECK(c.nginx.upstream_keepalive == 32);
  CHECK(ErrorOf(With(key, key + "  upstream_keepalive: -1\n")) ==
        "bgctl.yaml:5: nginx.upstream_keepalive: must be between 0 and 10000");
  CHECK(ErrorOf(With(key, key + "  upstream_keepalive: yes\n")) ==
        "bgctl.yaml:5: nginx.upstream_keepalive: expected an integer");
  CHECK(ErrorOf(With(key, key + "  upstream_keepalive: 10001\n")) ==
        "bgctl.yaml:5: nginx.upstream_keepalive: must be between 0 and 10000");
}
