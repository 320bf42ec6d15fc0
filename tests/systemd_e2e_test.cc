// End-to-end: backend.runner: systemd against a real systemd (issue 10).
// Each test boots one systemd (tests/support/systemd_fixture.h) and runs in
// it what a production host runs: nginx as a unit (enabled, reloaded with
// `systemctl reload`), the slots as units, bgctl inside the namespace. The
// load runs outside, on loopback. Where systemd cannot be booted the tests
// are skipped and say why.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/e2e.h"
#include "tests/support/load.h"
#include "tests/support/ports.h"
#include "tests/support/skip.h"
#include "tests/support/systemd_fixture.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

const char kNginxUnit[] = "bgctl-test-nginx.service";

struct Options {
  std::string steps =
      "[{weight: 10, pause: 1s}, {weight: 50, pause: 1s}, {weight: 100}]";
  std::string backend_args;   // appended to backend-sample's argv
  std::string template_unit;  // "" : bgctl writes the units
};

// One service on a real systemd: nginx and both slots as its units, files
// under the build folder (both sides of the namespace see them).
class SystemdService {
 public:
  explicit SystemdService(const std::string& name)
      : name_(name), root_(name), systemd_(root_.path()) {}

  SystemdFixture& systemd() { return systemd_; }
  const std::string& name() const { return name_; }
  int port() const { return port_; }
  int blue() const { return blue_; }
  int green() const { return green_; }
  std::string dir() const { return root_.path(); }
  std::string Unit(const std::string& slot) const {
    return "bgctl-" + name_ + "-" + slot + ".service";
  }

  // The nginx prefix and unit, and bgctl.yaml. False with *err.
  bool Prepare(const Options& o, std::string* err) {
    port_ = PickFreePort();
    blue_ = PickFreePort();
    green_ = PickFreePort();
    std::string prefix = root_.Path("nginx");
    CommandResult r = RunCommand(
        {"/bin/bash",
         std::string(BGCTL_SOURCE_DIR) + "/scripts/nginx-prefix.sh", prefix,
         std::to_string(port_), name_, std::to_string(blue_)},
        20000);
    *err = r.out + r.err;
    if (r.exit_code != 0) return false;
    std::string nginx = "/usr/sbin/nginx -p " + prefix + " -c " + prefix +
                        "/nginx.conf -e stderr";
    WriteWholeFile(systemd_.unit_dir() + "/" + kNginxUnit,
                   "[Unit]\nDescription=nginx (bgctl tests)\n[Service]\n"
                   "Type=exec\nExecStart=" +
                       nginx +
                       " -g \"daemon off;\"\n"
                       "ExecReload=" +
                       nginx +
                       " -s reload\n"
                       "[Install]\nWantedBy=bgctl-test.target\n");
    WriteConfig("bgctl.yaml", o);
    return true;
  }

  // Boots systemd and starts nginx in it (enabled: back after a reboot).
  bool Boot(std::string* err) { return systemd_.Boot(err); }
  bool StartNginx(std::string* err) {
    CommandResult r =
        systemd_.Run({"systemctl", "enable", "--now", kNginxUnit}, 20000);
    *err = r.out + r.err;
    return r.exit_code == 0 && WaitForPort(port_, 10000);
  }

  std::string WriteConfig(const std::string& file, const Options& o) {
    std::string prefix = root_.Path("nginx");
    std::ostringstream y;
    y << "service: " << name_ << "\nstate_dir: state\nnginx:\n"
      << "  upstream_file: " << prefix << "/upstream.conf\n"
      << "  upstream_name: " << name_ << "\n"
      << "  test_command: [/usr/sbin/nginx, -t, -p, " << prefix << ", -c, "
      << prefix << "/nginx.conf, -e, stderr]\n"
      << "  reload_command: [systemctl, reload, " << kNginxUnit << "]\n"
      << "  access_log: " << prefix << "/logs/access.log\n"
      << "  probe_url: http://127.0.0.1:" << port_ << "/__bgctl/generation\n"
      << "slots:\n  blue: {port: " << blue_ << "}\n  green: {port: " << green_
      << "}\n"
      << "backend:\n  runner: systemd\n";
    if (o.template_unit.empty()) {
      y << "  command: [\"" << BACKEND_SAMPLE_BIN
        << "\", --port, \"{port}\", --version, \"{version}\"" << o.backend_args
        << "]\n"
        << "  systemd: {wanted_by: bgctl-test.target}\n";
    } else {
      y << "  systemd: {template: \"" << o.template_unit
        << "\", wanted_by: bgctl-test.target}\n";
    }
    y << "  env: {GREETING: \"a b \\\"q\\\" $x %h \\\\n;\"}\n"
      << "  health: {path: /healthz, interval: 50ms, timeout: 500ms, "
         "healthy_threshold: 2, deadline: 5s}\n"
      << "  drain: {signal: SIGTERM, timeout: 10s}\n"
      << "rollout:\n  steps: " << o.steps << "\n"
      << "  analysis: {interval: 1s, min_requests: 20, failure_limit: 1, "
         "max_error_rate: 0.05, max_p99_latency: 250ms, max_latency_ratio: "
         "10}\n"
      << "hooks: {timeout: 5s}\n";
    std::string path = root_.Path(file);
    WriteWholeFile(path, y.str());
    return path;
  }

  // `bgctl -c CONFIG ARGS...` inside the namespace.
  CommandResult Bgctl(const std::vector<std::string>& args,
                      const std::string& config = "") {
    std::vector<std::string> argv = {
        BGCTL_BIN, "-c", config.empty() ? root_.Path("bgctl.yaml") : config};
    argv.insert(argv.end(), args.begin(), args.end());
    return systemd_.Run(argv, 90000, root_.path());
  }
  json Status() {
    CommandResult r = Bgctl({"--output", "json", "status"});
    json j = json::parse(r.out, nullptr, false);
    return r.exit_code == 0 && j.is_object() ? j : json::object();
  }
  // GET through nginx over a new connection: the version, or "" on error.
  std::string Get(const std::string& path = "/", int* status = nullptr) {
    httplib::Client c("127.0.0.1", port_);
    c.set_keep_alive(false);
    c.set_connection_timeout(2);
    c.set_read_timeout(10);
    auto res = c.Get(path.c_str());
    if (status) *status = res ? res->status : 0;
    return res ? VersionOf(res->body) : "";
  }
  std::string Prop(const std::string& unit, const std::string& prop) {
    return systemd_.Property(unit, prop);
  }

 private:
  std::string name_;
  TestRoot root_;
  SystemdFixture systemd_;
  int port_ = 0, blue_ = 0, green_ = 0;
};

// Prepares and boots; skips (returns false) when systemd cannot run here.
#define BOOT_OR_SKIP(svc, options)                               \
  do {                                                           \
    std::string why = (svc).systemd().CannotRun();               \
    if (!why.empty()) BGCTL_SKIP("no systemd here: " << why);    \
    std::string boot_err;                                        \
    REQUIRE((svc).Prepare(options, &boot_err));                  \
    if (!(svc).Boot(&boot_err))                                  \
      BGCTL_SKIP("systemd cannot be booted here: " << boot_err); \
    bool nginx_started = (svc).StartNginx(&boot_err);            \
    INFO(boot_err);                                              \
    REQUIRE(nginx_started);                                      \
  } while (false)

// Deploys `version`; REQUIREs the exit code.
void Deploy(SystemdService& svc, const std::string& version, int code = 0,
            const std::vector<std::string>& extra = {},
            const std::string& config = "") {
  std::vector<std::string> args = {"deploy", "--version", version};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = svc.Bgctl(args, config);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == code);
}

}  // namespace

TEST_CASE(
    "systemd: deploys under load fail no request and the old unit drains a "
    "6 s request and a stable crash is restarted by systemd",
    "[systemd_e2e]") {
  SystemdService svc("sda");
  BOOT_OR_SKIP(svc, Options());
  const std::string blue = svc.Unit("blue"), green = svc.Unit("green");

  Deploy(svc, "v1");
  CHECK(svc.Get() == "v1");
  json st = svc.Status();
  CHECK(st["stable"]["instance"]["unit"] == blue);
  CHECK(st["stable"]["instance"]["state"] == "active (running)");
  CHECK(st["stable"]["instance"]["boot"] == "enabled");
  CHECK(svc.Prop(blue, "Restart") == "on-failure");
  CHECK(svc.Prop(blue, "KillSignal") == "15");
  CHECK(svc.Prop(blue, "TimeoutStopUSec") == "10s");
  // The environment reaches the program exactly as bgctl.yaml says.
  std::string pid = svc.Prop(blue, "MainPID");
  std::string environ =
      svc.systemd().Run({"cat", "/proc/" + pid + "/environ"}).out;
  CHECK(environ.find("GREETING=a b \"q\" $x %h \\n;" + std::string(1, '\0')) !=
        std::string::npos);

  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  SleepMs(300);
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"});
  SleepMs(300);
  LoadReport report = load.Stop();
  INFO(r.out << r.err << Failures(report));
  REQUIRE(r.exit_code == 0);
  CHECK(report.sent > 300);
  CHECK(report.ok == report.sent);
  CHECK(report.per_version["v1"] > 0);
  CHECK(report.per_version["v2"] > 0);
  CHECK(svc.Prop(blue, "ActiveState") == "inactive");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", blue}).out ==
        "disabled\n");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", green}).out ==
        "enabled\n");
  CHECK(svc.Prop(green, "Restart") == "on-failure");

  // A long request on v2 (green) in flight while v3 takes over: green's
  // `systemctl stop` waits for it. 6 s: the deploy to 100% takes 2-4 s on
  // a loaded machine, so the request is still running when the drain starts.
  auto slow = std::async(std::launch::async, [&] {
    int status = 0;
    std::string version = svc.Get("/work?ms=6000", &status);
    return std::make_pair(status, version);
  });
  SleepMs(300);
  CommandResult d = svc.Bgctl({"deploy", "--version", "v3", "--steps", "100"});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  auto [slow_status, slow_version] = slow.get();
  CHECK(slow_status == 200);
  CHECK(slow_version == "v2");
  // The drain waited for it (an idle backend drains in ~100 ms).
  size_t at = d.out.find("drained in ");
  REQUIRE(at != std::string::npos);
  CHECK(std::atoi(d.out.c_str() + at + 11) >= 1000);
  CHECK(svc.Prop(green, "ActiveState") == "inactive");

  // The stable backend crashes outside a rollout: systemd restarts it.
  std::string old_pid = svc.Prop(blue, "MainPID");
  REQUIRE(svc.systemd().Run({"kill", "-KILL", old_pid}).exit_code == 0);
  REQUIRE(WaitFor([&] { return svc.Prop(blue, "NRestarts") == "1"; }, 10000));
  REQUIRE(WaitFor([&] { return svc.Get() == "v3"; }, 10000));
  st = svc.Status();
  CHECK(st["stable"]["version"] == "v3");
  CHECK(st["stable"]["instance"]["restarts"] == 1);
  CHECK(st["stable"]["instance"]["state"] == "active (running)");
  CHECK(st["stable"]["instance"]["pid"] != std::stoi(old_pid));
  CommandResult text = svc.Bgctl({"status"});
  CHECK(text.out.find("  unit " + blue + ": active (running), pid ") !=
        std::string::npos);
  CHECK(text.out.find(", 1 restart, enabled\n") != std::string::npos);
}

TEST_CASE(
    "systemd: after a reboot the stable slot and a paused rollout come back "
    "from their units (a template) and nginx answers them: promote and abort "
    "work",
    "[systemd_e2e]") {
  SystemdService svc("sdb");
  Options o;
  o.template_unit = "sdb@.service";
  BOOT_OR_SKIP(svc, o);
  WriteWholeFile(svc.systemd().unit_dir() + "/sdb@.service",
                 std::string("[Unit]\nDescription=sdb %i\n[Service]\n"
                             "Type=exec\nExecStart=") +
                     BACKEND_SAMPLE_BIN +
                     " --port ${BGCTL_PORT} --version ${BGCTL_VERSION}\n"
                     "[Install]\nWantedBy=bgctl-test.target\n");
  const std::string blue = "sdb@blue.service", green = "sdb@green.service";
  std::string err;

  Deploy(svc, "v1");
  Deploy(svc, "v2", 0, {"--steps", "100"});
  Deploy(svc, "v3", 0, {"--steps", "30:forever,100"});
  CHECK(svc.Status()["phase"] == "paused");

  REQUIRE(svc.systemd().Reboot(&err));
  REQUIRE(WaitForPort(svc.port(), 10000));
  REQUIRE(WaitFor([&] { return svc.Prop(blue, "ActiveState") == "active"; },
                  10000));
  REQUIRE(WaitFor([&] { return !svc.Get().empty(); }, 10000));
  std::map<std::string, int> seen;
  for (int i = 0; i < 40; ++i) seen[svc.Get()]++;
  CHECK(seen[""] == 0);
  CHECK(seen["v2"] > 0);
  CHECK(seen["v3"] > 0);
  json st = svc.Status();
  CHECK(st["phase"] == "paused");
  CHECK(st["canary"]["weight"] == 30);
  CHECK(st["stable"]["instance"]["unit"] == green);
  CHECK(st["stable"]["instance"]["state"] == "active (running)");
  CHECK(st["canary"]["instance"]["unit"] == blue);

  CommandResult p = svc.Bgctl({"promote", "--full"});
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.Prop(blue, "Restart") == "on-failure");

  // Only the stable slot starts at the next boot.
  REQUIRE(svc.systemd().Reboot(&err));
  REQUIRE(WaitFor([&] { return svc.Get() == "v3"; }, 15000));
  for (int i = 0; i < 10; ++i) CHECK(svc.Get() == "v3");
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  st = svc.Status();
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["slot"] == "blue");
  CHECK(st["stable"]["version"] == "v3");
  CHECK(st["stable"]["weight"] == 100);

  // A paused rollout over a reboot, then aborted.
  Deploy(svc, "v4", 0, {"--steps", "20:forever,100"});
  REQUIRE(svc.systemd().Reboot(&err));
  REQUIRE(WaitFor([&] { return svc.Prop(green, "ActiveState") == "active"; },
                  10000));
  CommandResult a = svc.Bgctl({"abort"});
  INFO(a.out << a.err);
  REQUIRE(a.exit_code == 0);
  for (int i = 0; i < 10; ++i) CHECK(svc.Get() == "v3");
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", green}).out ==
        "disabled\n");
}

TEST_CASE(
    "systemd: a canary that fails at start or crashes mid-rollout is rolled "
    "back and not restarted: rollback and abort",
    "[systemd_e2e]") {
  SystemdService svc("sdc");
  BOOT_OR_SKIP(svc, Options());
  const std::string blue = svc.Unit("blue"), green = svc.Unit("green");
  Deploy(svc, "v1");

  // Exits at once: reported with the tail of its journal.
  Options bad;
  bad.backend_args = ", --no-such-flag";
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"},
                              svc.WriteConfig("bad.yaml", bad));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("exited while starting; last lines of its log:") !=
        std::string::npos);
  CHECK(r.err.find("The following argument was not expected: "
                   "--no-such-flag") != std::string::npos);
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.Prop(green, "NRestarts") == "0");

  // Crashes one second into a step: rolled back, and systemd leaves it down.
  Options crash;
  crash.backend_args = ", --crash-after, 1s";
  crash.steps = "[{weight: 50, pause: 4s}, {weight: 100}]";
  r = svc.Bgctl({"deploy", "--version", "v2"},
                svc.WriteConfig("crash.yaml", crash));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("exited during the rollout") != std::string::npos);
  SleepMs(500);
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.Prop(green, "NRestarts") == "0");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", green}).out ==
        "disabled\n");
  for (int i = 0; i < 10; ++i) CHECK(svc.Get() == "v1");

  // Rollback after a promotion starts v1's unit again.
  Deploy(svc, "v2", 0, {"--steps", "100"});
  CHECK(svc.Prop(blue, "ActiveState") == "inactive");
  CommandResult rb = svc.Bgctl({"rollback"});
  INFO(rb.out << rb.err);
  REQUIRE(rb.exit_code == 0);
  for (int i = 0; i < 10; ++i) CHECK(svc.Get() == "v1");
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", blue}).out ==
        "enabled\n");
  CHECK(svc.Prop(blue, "Restart") == "on-failure");

  // Abort of a paused rollout stops and disables the canary's unit.
  Deploy(svc, "v4", 0, {"--steps", "20:forever,100"});
  CHECK(svc.Prop(green, "ActiveState") == "active");
  CommandResult a = svc.Bgctl({"abort"});
  INFO(a.out << a.err);
  REQUIRE(a.exit_code == 0);
  for (int i = 0; i < 10; ++i) CHECK(svc.Get() == "v1");
  CHECK(svc.Prop(green, "ActiveState") == "inactive");
  CHECK(svc.systemd().Run({"systemctl", "is-enabled", green}).out ==
        "disabled\n");
}
