// SystemdSlotRunner on the fakes (FakeSystemd answers systemctl and
// journalctl): the calls it makes, in order, and what it concludes from
// systemd's answers. tests/systemd_e2e_test.cc runs it against a real one.
#include "controller/systemd_slot_runner.h"

#include <stdlib.h>

#include <catch2/catch.hpp>

#include "controller/fake_env.h"
#include "controller/state.h"
#include "controller/systemd_unit.h"

namespace bgctl {
namespace {

using fake::FakeClock;
using fake::FakeFileSystem;
using fake::FakeProcessRunner;
using fake::FakeSystemd;

const std::string kDir = "/etc/systemd/system";
const std::string kGreen = "bgctl-demo-green.service";
const std::string kBlue = "bgctl-demo-blue.service";

Config RunnerConfig() {
  Config c;
  c.service = "demo";
  c.state_dir = "/srv/demo/.bgctl";
  c.blue_port = 8081;
  c.green_port = 8082;
  c.backend.runner = RunnerKind::kSystemd;
  c.backend.command = {"bin/app", "--port", "{port}", "--version", "{version}"};
  c.backend.workdir = "/srv/demo";
  c.backend.env = {{"APP_ENV", "test"}};
  c.backend.drain.timeout_ms = 5000;
  c.backend.systemd.unit_dir = kDir;
  c.backend.systemd.wanted_by = "multi-user.target";
  return c;
}

// Sets PATH for one test, and puts it back.
class PathGuard {
 public:
  explicit PathGuard(const char* path) {
    const char* old = getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("PATH", path, 1);
  }
  ~PathGuard() {
    if (had_) {
      setenv("PATH", old_.c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

struct World {
  FakeClock clock;
  FakeFileSystem fs{&clock};
  FakeProcessRunner processes{&clock};
  Config cfg = RunnerConfig();
  FakeSystemd systemd{cfg.backend.systemd, &fs, &processes};
  SystemdSlotRunner runner{cfg, Env{&clock, &fs, &processes, nullptr}};

  World() { fs.files["/srv/demo/bin/app"] = ""; }

  // Prepare + Start of `version` in `slot`; REQUIREs success.
  Instance Started(const std::string& slot, const std::string& version) {
    Instance instance;
    runner.Prepare(slot, &instance);
    std::string err;
    INFO(err);
    REQUIRE(runner.Start(slot, version, &instance, &err));
    return instance;
  }
  // The systemctl/journalctl calls since the call with index `from`.
  std::vector<std::string> Calls(size_t from = 0) {
    std::vector<std::string> all = processes.RunLines();
    return std::vector<std::string>(all.begin() + std::min(from, all.size()),
                                    all.end());
  }
};

TEST_CASE(
    "start writes the unit and the canary drop-in, enables, reloads, "
    "restarts, and records the MainPID with its start time",
    "[systemd_runner]") {
  World w;
  Instance instance;
  w.runner.Prepare("green", &instance);
  CHECK(instance.unit == kGreen);
  CHECK(instance.tag.size() == 16);
  CHECK(instance.process.pid == 0);
  std::string err;
  REQUIRE(w.runner.Start("green", "v2", &instance, &err));
  std::string unit = w.fs.Contents(kDir + "/" + kGreen);
  CHECK(unit.find("ExecStart=\"/srv/demo/bin/app\" \"--port\" \"8082\" "
                  "\"--version\" \"v2\"\n") != std::string::npos);
  CHECK(unit.find("Environment=\"BGCTL_INSTANCE=" + instance.tag + "\"\n") !=
        std::string::npos);
  CHECK(unit.find("Environment=\"APP_ENV=test\"\n") != std::string::npos);
  CHECK(unit.find("TimeoutStopSec=5000ms\n") != std::string::npos);
  CHECK(unit.find("WantedBy=multi-user.target\n") != std::string::npos);
  CHECK(w.fs.Contents(CanaryDropInPath(w.cfg, kGreen)) == RenderCanaryDropIn());
  CHECK(w.fs.writes().at(0).mode == 0644);
  CHECK(w.Calls() ==
        std::vector<std::string>{
            "systemctl add-wants --no-reload multi-user.target " + kGreen,
            "systemctl daemon-reload",
            "systemctl show " + kGreen + " -p ExecMainStartTimestampMonotonic",
            "systemctl restart " + kGreen,
            "systemctl show " + kGreen + " -p MainPID,ControlGroup"});
  const FakeSystemd::Unit& u = w.systemd.units[kGreen];
  CHECK(instance.process.pid == u.main_pid);
  CHECK(instance.process.start_time == u.main_pid * 7u);
  CHECK(u.enabled);
  CHECK_FALSE(u.restart_on_failure);  // a canary: bgctl handles its crash
  CHECK(w.runner.IsAlive(instance));
}

TEST_CASE(
    "the program is found in PATH or relative to the workdir, and a "
    "missing one is the process runner's error",
    "[systemd_runner]") {
  World w;
  w.cfg.backend.command = {"sh", "-c", "true"};
  w.fs.files["/bin/sh"] = "";
  PathGuard path("relative:/nope:/bin");
  w.Started("blue", "v1");
  CHECK(w.fs.Contents(kDir + "/" + kBlue).find("ExecStart=\"/bin/sh\"") !=
        std::string::npos);
  w.cfg.backend.command = {"./missing"};
  Instance instance;
  w.runner.Prepare("blue", &instance);
  std::string err;
  CHECK_FALSE(w.runner.Start("blue", "v1", &instance, &err));
  CHECK(err == "cannot start \"./missing\": No such file or directory");
}

TEST_CASE(
    "a unit that fails to start is an error with systemctl's message "
    "and its journal, and is left disabled",
    "[systemd_runner]") {
  World w;
  w.systemd.fail_next["restart"] = RunResult{
      1, false,
      "Job for " + kGreen +
          " failed because the control process exited with error code.\n"};
  w.systemd.journal[kGreen] = {"app: cannot bind 8082"};
  Instance instance;
  w.runner.Prepare("green", &instance);
  std::string err;
  REQUIRE_FALSE(w.runner.Start("green", "v2", &instance, &err));
  CHECK(err == "systemctl restart " + kGreen + ": exit 1: Job for " + kGreen +
                   " failed because the control process exited with error "
                   "code.\nlast lines of its journal:\napp: cannot bind "
                   "8082\n");
  CHECK(w.Calls(4) ==
        std::vector<std::string>{
            "systemctl show " + kGreen +
                " -p ExecMainPID,ExecMainCode,ExecMainStatus,"
                "ExecMainStartTimestampMonotonic",
            "systemctl show " + kGreen + " -p InvocationID",
            "journalctl -n 10 --no-pager -q -o short-iso -u " + kGreen,
            "systemctl reset-failed " + kGreen,
            "systemctl disable --no-reload " + kGreen});
  CHECK_FALSE(w.systemd.units[kGreen].enabled);
}

TEST_CASE(
    "a main process that exits at once is started but not alive - its "
    "journal is the recent output",
    "[systemd_runner]") {
  World w;
  w.systemd.on_start = [](const std::string&, fake::FakeProcess* p) {
    p->alive = false;
  };
  w.systemd.journal[kGreen] = {"line 1", "panic: bad flag"};
  Instance instance = w.Started("green", "v2");
  CHECK(instance.process.pid == 0);
  CHECK_FALSE(w.runner.IsAlive(instance));
  size_t before = w.processes.runs().size();
  CHECK(w.runner.RecentOutput("green", instance, 10) ==
        "line 1\npanic: bad flag\n");
  const std::string id = w.systemd.units[kGreen].invocation;
  REQUIRE(id.size() == 32);
  // Only the last run's lines: its invocation, not the whole unit's past.
  CHECK(w.Calls(before).back() ==
        "journalctl -n 10 --no-pager -q -o short-iso _SYSTEMD_INVOCATION_ID=" +
            id + " + INVOCATION_ID=" + id);
}

TEST_CASE(
    "a program that exits before systemd saw it start is started and "
    "exited, a failed exec is a failed start",
    "[systemd_runner]") {
  World w;
  w.systemd.exit_fails_start = true;
  w.systemd.on_start = [](const std::string&, fake::FakeProcess* p) {
    p->alive = false;
  };
  Instance instance = w.Started("green", "v2");  // exit 1: a bad flag, say
  CHECK(instance.process.pid == 0);
  CHECK_FALSE(w.runner.IsAlive(instance));
  w.systemd.start_exit_status = 203;  // systemd: the exec failed
  w.runner.Prepare("green", &instance);
  std::string err;
  CHECK_FALSE(w.runner.Start("green", "v2", &instance, &err));
  CHECK(err.find("systemctl restart " + kGreen + ": exit 1: Job for") == 0);
  // A failed restart that never ran the program at all (no new main).
  w.systemd.fail_next["restart"] = RunResult{1, false, "Job failed.\n"};
  CHECK_FALSE(w.runner.Start("green", "v2", &instance, &err));
  CHECK(err.find("systemctl restart " + kGreen + ": exit 1: Job failed.") == 0);
}

TEST_CASE("a canary that crashes stays down: not alive, not restarted",
          "[systemd_runner]") {
  World w;
  Instance canary = w.Started("green", "v2");
  w.processes.Exit(canary.process.pid);
  CHECK_FALSE(w.runner.IsAlive(canary));
  RunnerStatus s = w.runner.Status("green", canary);
  CHECK(s.state == "failed (failed)");
  CHECK(s.restarts == 0);
  CHECK(s.pid == 0);
}

TEST_CASE(
    "once stable, a crash is restarted by systemd: the old instance "
    "is not alive, status counts the restart",
    "[systemd_runner]") {
  World w;
  Instance stable = w.Started("green", "v2");
  std::string err;
  size_t before = w.processes.runs().size();
  REQUIRE(w.runner.SetBootSlot("green", &err));
  CHECK(w.Calls(before) ==
        std::vector<std::string>{
            "systemctl add-wants --no-reload multi-user.target " + kGreen,
            "systemctl show " + kBlue + " -p LoadState",
            "systemctl daemon-reload"});
  CHECK_FALSE(w.fs.Exists(CanaryDropInPath(w.cfg, kGreen)));
  CHECK(w.systemd.units[kGreen].restart_on_failure);
  w.systemd.Crash(kGreen);
  CHECK_FALSE(w.runner.IsAlive(stable));
  RunnerStatus s = w.runner.Status("green", stable);
  CHECK(s.unit == kGreen);
  CHECK(s.state == "active (running)");
  CHECK(s.restarts == 1);
  CHECK(s.pid == w.systemd.units[kGreen].main_pid);
  CHECK(s.pid != stable.process.pid);
  CHECK(s.boot == "enabled");
}

TEST_CASE(
    "the unit's state is asked at most once a second - a main pid "
    "that is no longer the unit's is not alive",
    "[systemd_runner]") {
  World w;
  Instance instance = w.Started("green", "v2");
  size_t before = w.processes.runs().size();
  for (int i = 0; i < 50; ++i) {
    CHECK(w.runner.IsAlive(instance));
    w.clock.SleepMs(20);
  }
  CHECK(w.processes.runs().size() - before == 1);
  w.clock.SleepMs(20);
  // Someone stops the unit behind bgctl's back; the process still drains.
  w.systemd.units[kGreen].active = "deactivating";
  CHECK_FALSE(w.runner.IsAlive(instance));
}

TEST_CASE(
    "stop drains through systemctl stop, then the unit is reset and "
    "disabled - a timeout is a kill - an inactive unit is not running",
    "[systemd_runner]") {
  World w;
  Instance instance = w.Started("blue", "v1");
  int64_t elapsed = -1;
  std::string err;
  size_t before = w.processes.runs().size();
  CHECK(w.runner.Stop(instance, &elapsed, &err) == StopOutcome::kExited);
  CHECK(w.Calls(before) ==
        std::vector<std::string>{
            "systemctl show " + kBlue + " -p LoadState,ActiveState",
            "systemctl stop " + kBlue, "systemctl show " + kBlue + " -p Result",
            "systemctl reset-failed " + kBlue,
            "systemctl disable --no-reload " + kBlue});
  CHECK(w.processes.runs()[before + 1].timeout_ms == 2 * 5000 + 30000);
  CHECK_FALSE(w.systemd.units[kBlue].enabled);
  CHECK_FALSE(w.runner.IsAlive(instance));
  CHECK(w.runner.Stop(instance, &elapsed, &err) == StopOutcome::kNotRunning);

  instance = w.Started("blue", "v1");
  w.systemd.stop_result = "timeout";
  CHECK(w.runner.Stop(instance, &elapsed, &err) == StopOutcome::kKilled);
  CHECK(w.systemd.units[kBlue].active == "inactive");  // reset-failed
}

TEST_CASE("a failing systemctl stop is a failed stop with its message",
          "[systemd_runner]") {
  World w;
  Instance instance = w.Started("blue", "v1");
  w.systemd.fail_next["stop"] =
      RunResult{1, false, "Failed to stop " + kBlue + ": Access denied\n"};
  int64_t elapsed = 0;
  std::string err;
  CHECK(w.runner.Stop(instance, &elapsed, &err) == StopOutcome::kFailed);
  CHECK(err == "systemctl stop " + kBlue + ": exit 1: Failed to stop " + kBlue +
                   ": Access denied");
  w.processes.run_error = "cannot start \"systemctl\": No such file";
  CHECK(w.runner.Stop(instance, &elapsed, &err) == StopOutcome::kFailed);
  CHECK(err == "systemctl show " + kBlue +
                   " -p LoadState,ActiveState: cannot start \"systemctl\": "
                   "No such file");
}

TEST_CASE("CPU time is the cgroup's, else systemd's, else the process's",
          "[systemd_runner]") {
  World w;
  Instance instance = w.Started("green", "v2");
  w.fs.files["/sys/fs/cgroup/system.slice/" + kGreen + "/cpu.stat"] =
      "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
  int64_t ms = 0;
  REQUIRE(w.runner.CpuTimeMs(instance, &ms));
  CHECK(ms == 2500);
  w.fs.files["/sys/fs/cgroup/unified/system.slice/" + kGreen + "/cpu.stat"] =
      "usage_usec 7000\n";
  REQUIRE(w.runner.CpuTimeMs(instance, &ms));
  CHECK(ms == 7);
  w.fs.files.clear();
  w.processes.Process(instance.process.pid).cpu_ms = 42;
  REQUIRE(w.runner.CpuTimeMs(instance, &ms));
  CHECK(ms == 42);
}

TEST_CASE("adopt finds the unit's main process by its tag",
          "[systemd_runner]") {
  World w;
  Instance started = w.Started("green", "v2");
  Instance recorded = started;
  recorded.process = ProcessId();
  REQUIRE(w.runner.Adopt(&recorded));
  CHECK(recorded.process.pid == started.process.pid);
  CHECK(recorded.process.start_time == started.process.start_time);
  Instance other = started;
  other.process = ProcessId();
  other.tag = "0000000000000000";
  CHECK_FALSE(w.runner.Adopt(&other));
  other.tag.clear();
  CHECK_FALSE(w.runner.Adopt(&other));
  w.systemd.Crash(kGreen);  // a canary: down
  recorded.process = ProcessId();
  CHECK_FALSE(w.runner.Adopt(&recorded));
}

TEST_CASE(
    "set-boot-slot enables the stable unit and disables the other - a "
    "failure names the call",
    "[systemd_runner]") {
  World w;
  w.Started("blue", "v1");
  w.Started("green", "v2");
  std::string err;
  REQUIRE(w.runner.SetBootSlot("green", &err));
  CHECK(w.systemd.units[kGreen].enabled);
  CHECK_FALSE(w.systemd.units[kBlue].enabled);
  CHECK(w.fs.Exists(CanaryDropInPath(w.cfg, kBlue)));
  w.systemd.fail_next["add-wants"] =
      RunResult{1, false, "Failed to add dependency: Access denied\n"};
  CHECK_FALSE(w.runner.SetBootSlot("blue", &err));
  CHECK(err == "systemctl add-wants --no-reload multi-user.target " + kBlue +
                   ": exit 1: Failed to add dependency: Access denied");
}

TEST_CASE(
    "a template's instances get a drop-in - the template's ExecStart "
    "runs",
    "[systemd_runner]") {
  World w;
  w.cfg.backend.systemd.template_unit = "demo@.service";
  w.cfg.backend.command.clear();
  w.fs.files[kDir + "/demo@.service"] =
      "[Service]\nExecStart=/srv/demo/app --port ${BGCTL_PORT}\n";
  Instance instance = w.Started("green", "v2");
  CHECK(instance.unit == "demo@green.service");
  std::string dropin =
      w.fs.Contents(kDir + "/demo@green.service.d/50-bgctl.conf");
  CHECK(dropin.find("Environment=\"BGCTL_PORT=8082\"\n") != std::string::npos);
  CHECK(dropin.find("Environment=\"BGCTL_VERSION=v2\"\n") != std::string::npos);
  CHECK(dropin.find("ExecStart") == std::string::npos);
  CHECK_FALSE(w.fs.Exists(kDir + "/demo@green.service"));
  CHECK(w.processes.Process(instance.process.pid).spec.env.at("BGCTL_SLOT") ==
        "green");
  CHECK(w.runner.IsAlive(instance));
  CHECK(w.runner.Status("green", instance).unit == "demo@green.service");
}

TEST_CASE(
    "an instance recorded by the process runner is handled as a "
    "process",
    "[systemd_runner]") {
  World w;
  Instance legacy;
  legacy.process = w.processes.Adopt();
  CHECK(w.runner.IsAlive(legacy));
  CHECK(w.runner.Status("blue", legacy).state == "running");
  int64_t elapsed = 0;
  std::string err;
  CHECK(w.runner.Stop(legacy, &elapsed, &err) == StopOutcome::kExited);
  CHECK(w.processes.signals().size() == 1);
  CHECK(w.processes.runs().empty());
}

TEST_CASE(
    "status names each slot's unit, its state, restarts and boot, in "
    "text and JSON",
    "[systemd_runner]") {
  World w;
  State state;
  state.phase = Phase::kPromoted;
  state.stable_slot = "green";
  state.green = {"v2", w.Started("green", "v2")};
  std::string err;
  REQUIRE(w.runner.SetBootSlot("green", &err));
  w.systemd.Crash(kGreen);
  RunnerStatuses live = SlotStatuses(&w.runner, state);
  REQUIRE(live.size() == 1);
  int pid = w.systemd.units[kGreen].main_pid;
  nlohmann::json j = StatusJson(state, w.cfg, &live);
  CHECK(j["stable"]["instance"] ==
        nlohmann::json({{"runner", "systemd"},
                        {"unit", kGreen},
                        {"state", "active (running)"},
                        {"pid", pid},
                        {"restarts", 1},
                        {"boot", "enabled"}}));
  CHECK(j["canary"].is_null());
  std::string text = StatusText(state, w.cfg, &live);
  CHECK(text.find("  unit " + kGreen + ": active (running), pid " +
                  std::to_string(pid) + ", 1 restart, enabled\n") !=
        std::string::npos);
  // Without the runner's view, status is as before.
  CHECK_FALSE(StatusJson(state, w.cfg)["stable"].contains("instance"));
  CHECK(StatusText(state, w.cfg).find("unit") == std::string::npos);
  // A slot with nothing installed says so.
  CHECK(w.runner.Status("blue", Instance()).state == "not installed");
}

}  // namespace
}  // namespace bgctl
