// The rollout on the systemd runner, on the fakes (rollout_harness.h with
// FakeSystemd): the boot slot follows promotions, and a canary that crashes
// is rolled back, not restarted by systemd.
#include <catch2/catch.hpp>

#include "controller/rollout_harness.h"
#include "controller/systemd_slot_runner.h"

namespace bgctl {
namespace {

using rollout_testing::World;

const std::string kBlueUnit = "bgctl-demo-blue.service";
const std::string kGreenUnit = "bgctl-demo-green.service";

// The harness's world with the systemd runner in place of the process one.
struct SystemdWorld : World {
  fake::FakeSystemd systemd{cfg.backend.systemd, &fs, &processes};
  SystemdSlotRunner units{cfg, ctx.env};

  SystemdWorld() {
    cfg.backend.runner = RunnerKind::kSystemd;
    fs.files["/srv/demo/bin/app"] = "";
    ctx.runner = &units;
  }
};

TEST_CASE(
    "on systemd, each promotion makes the new stable unit the one "
    "that starts at boot and restarts on failure",
    "[systemd_runner][rollout]") {
  SystemdWorld w;
  std::string err;
  REQUIRE(w.Deploy("v1", &err) == kExitOk);
  CHECK(w.systemd.units[kBlueUnit].enabled);
  CHECK(w.systemd.units[kBlueUnit].restart_on_failure);
  w.cfg.rollout.steps = {{50, 1000, false}, {100, 0, false}};
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  const fake::FakeSystemd::Unit& green = w.systemd.units[kGreenUnit];
  CHECK(green.enabled);
  CHECK(green.restart_on_failure);
  CHECK(green.active == "active");
  const fake::FakeSystemd::Unit& blue = w.systemd.units[kBlueUnit];
  CHECK_FALSE(blue.enabled);
  CHECK(blue.active == "inactive");
  State saved = w.Saved();
  CHECK(saved.green.instance.unit == kGreenUnit);
  CHECK(saved.green.instance.process.pid == green.main_pid);
  CHECK(saved.blue.instance.unit.empty());  // stopped
}

TEST_CASE(
    "on systemd, a canary that crashes mid-rollout is rolled back and "
    "stays down",
    "[systemd_runner][rollout]") {
  SystemdWorld w;
  std::string err;
  REQUIRE(w.Deploy("v1", &err) == kExitOk);
  int stable_pid = w.systemd.units[kBlueUnit].main_pid;
  w.systemd.journal[kGreenUnit] = {"v2: segfault"};
  w.clock.After(
      1500, [&] { w.processes.Exit(w.systemd.units[kGreenUnit].main_pid); });
  REQUIRE(w.Deploy("v2", &err) == kExitRolledBack);
  CHECK(err.find("exited during the rollout; last lines of its log:\n"
                 "v2: segfault\n") != std::string::npos);
  const fake::FakeSystemd::Unit& green = w.systemd.units[kGreenUnit];
  CHECK(green.restarts == 0);
  CHECK(green.main_pid == 0);
  CHECK(green.active == "inactive");  // stopped and reset, not failed
  CHECK_FALSE(green.enabled);
  CHECK(w.systemd.units[kBlueUnit].main_pid == stable_pid);
  CHECK(w.systemd.units[kBlueUnit].enabled);
  CHECK(w.Saved().phase == Phase::kRolledBack);
}

}  // namespace
}  // namespace bgctl

namespace bgctl {
namespace {

TEST_CASE(
    "on systemd, the next command records a unit started again with "
    "the same tag (a reboot, a restart by systemd)",
    "[systemd_runner][rollout]") {
  SystemdWorld w;
  std::string err;
  REQUIRE(w.Deploy("v1", &err) == kExitOk);
  int before = w.Saved().blue.instance.process.pid;
  w.systemd.Crash(kBlueUnit);  // restarted: stable
  int now = w.systemd.units[kBlueUnit].main_pid;
  REQUIRE(now != before);
  w.state = w.Saved();
  REQUIRE(ReconcileInstances(&w.ctx, &w.state, &err));
  CHECK(w.Saved().blue.instance.process.pid == now);
  CHECK(w.out.str().find("found v1 (blue) running as pid " +
                         std::to_string(now) + ", started again since pid " +
                         std::to_string(before)) != std::string::npos);
}

}  // namespace
}  // namespace bgctl
