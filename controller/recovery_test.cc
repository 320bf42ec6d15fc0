// Crash consistency of the rollout on the fakes (rollout_harness.h): the
// switch journal, splits nginx never confirmed, processes whose pid was never
// recorded, and rollouts resumed after bgctl was killed.
#include <catch2/catch.hpp>

#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

TEST_CASE(
    "a deploy asks the traffic switch for each step in order, the generation "
    "reserved before each call, and nothing else",
    "[recovery]") {
  World w;
  w.StartStable();
  w.UseFakeSwitch();
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 10% stable=8081 canary=8082 -> confirmed",
            "switch 3: 50% stable=8081 canary=8082 -> confirmed",
            "switch 4: 100% stable=8081 canary=8082 -> confirmed"});
  // Each generation was in state.json, as traffic_unknown, before the call.
  std::vector<std::string> saved = w.fs.WritesTo(kStatePath);
  int intents = 0;
  for (const std::string& s : saved)
    if (s.find("\"traffic_unknown\": true") != std::string::npos) ++intents;
  CHECK(intents == 3);
  CHECK_FALSE(w.Saved().traffic_unknown);
}

TEST_CASE(
    "a switch nginx rejects leaves the weight and a known split, and the rollout "
    "rolls back with another confirmed switch",
    "[recovery]") {
  World w;
  w.StartStable();
  w.UseFakeSwitch();
  w.traffic.outcomes = {SwitchOutcome::kConfirmed, SwitchOutcome::kRejected};
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitFailed);
  CHECK(err == "fake switch: rejected");
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 10% stable=8081 canary=8082 -> confirmed",
            "switch 3: 50% stable=8081 canary=8082 -> rejected",
            "switch 4: 0% stable=8081 canary=- -> confirmed"});
  State s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.canary_slot == "");
  CHECK_FALSE(s.traffic_unknown);
}

TEST_CASE(
    "a rollback nginx cannot confirm keeps the canary, says the traffic is "
    "unknown, and the next deploy finishes it first",
    "[recovery]") {
  World w;
  w.StartStable();
  w.UseFakeSwitch();
  w.traffic.outcomes = {SwitchOutcome::kConfirmed, SwitchOutcome::kUnknown,
                        SwitchOutcome::kUnknown};
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitFailed);
  State s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.traffic_unknown);
  CHECK(s.canary_weight == 10);  // the last confirmed weight
  CHECK(s.canary_slot == "green");
  CHECK(w.processes.IsAlive(s.green.instance.process));  // may get requests
  CHECK_THAT(w.err.str(),
             Catch::Contains("could not move traffic back to stable: fake "
                             "switch: unknown; the canary keeps running"));

  // nginx is back: the next deploy ends the old rollout, then runs.
  w.state = w.Saved();
  REQUIRE(w.Deploy("v3", &err) == kExitOk);
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 10% stable=8081 canary=8082 -> confirmed",
            "switch 3: 50% stable=8081 canary=8082 -> unknown",
            "switch 4: 0% stable=8081 canary=- -> unknown",
            "switch 5: 0% stable=8081 canary=- -> confirmed",
            "switch 6: 10% stable=8081 canary=8082 -> confirmed",
            "switch 7: 50% stable=8081 canary=8082 -> confirmed",
            "switch 8: 100% stable=8081 canary=8082 -> confirmed"});
  CHECK_FALSE(w.processes.IsAlive(s.green.instance.process));
  CHECK(w.Saved().green.version == "v3");
  CHECK_THAT(w.out.str(),
             Catch::Contains("finishing the rolled_back rollout of v2 first"));
}

TEST_CASE(
    "a deploy while a rollout is paused is refused with the reason on the "
    "error stream",
    "[recovery]") {
  World w;
  PausedAtTen(&w);
  std::string err;
  REQUIRE(w.Deploy("v3", &err) == kExitFailed);
  CHECK(err ==
        "a rollout of v2 is under way (phase paused): use `bgctl promote`, "
        "`bgctl set-weight` or `bgctl abort`");
  CHECK_THAT(w.err.str(), Catch::Contains(err));
}

// bgctl was killed after spawning the canary and before it saved the pid:
// the state holds the canary's tag only.
void KilledAfterSpawn(World* w) {
  w->StartStable();
  w->cfg.rollout.steps = {{10, 0, true}, {100, 0, false}};
  std::string err;
  REQUIRE(w->Deploy("v2", &err) == kExitOk);  // paused at 10%
  State s = w->Saved();
  s.phase = Phase::kProgressing;
  s.owner_pid = 999999;                    // gone
  s.green.instance.process = ProcessId();  // the pid was never written
  w->state = s;
  w->Save();
}

TEST_CASE(
    "a canary whose pid was never saved is found by its tag and stopped by "
    "abort: no orphan keeps the slot",
    "[recovery]") {
  World w;
  KilledAfterSpawn(&w);
  REQUIRE(w.processes.spawned() == std::vector<int>{1000});
  REQUIRE(ReconcileInstances(&w.ctx, &w.state, &w.state.last_error));
  CHECK(w.Saved().green.instance.process.pid == 1000);
  CHECK_THAT(w.out.str(),
             Catch::Contains("found v2 (green) running as pid 1000, started "
                             "by a bgctl that was interrupted"));
  std::string err;
  REQUIRE(MarkInterrupted(&w.ctx, &w.state, &err));
  REQUIRE(Abort(&w.ctx, &w.state, &err) == kExitOk);
  CHECK_FALSE(w.processes.IsAlive(w.processes.Process(1000).id));
  State s = w.Saved();
  CHECK(s.phase == Phase::kAborted);
  CHECK(s.green.instance.tag == "");
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 3);
  CHECK(h[1].outcome == "interrupted");
  CHECK(h[1].ends == s.deploy_id);
  CHECK(h[2].command == "abort");
  CHECK(h[2].ends == s.deploy_id);
}

TEST_CASE(
    "promote resumes an interrupted rollout: a live canary is checked again "
    "and continues without pre_traffic, a dead one is started again",
    "[recovery]") {
  SECTION("alive") {
    World w;
    KilledAfterSpawn(&w);
    w.cfg.hooks.pre_traffic = {"check", "{port}"};
    std::string err;
    REQUIRE(ReconcileInstances(&w.ctx, &w.state, &err));
    REQUIRE(MarkInterrupted(&w.ctx, &w.state, &err));
    int checks = w.http.Count(kGreen, "/healthz");
    REQUIRE(w.Promote(false, &err) == kExitOk);
    CHECK(w.http.Count(kGreen, "/healthz") == checks + 3);  // checked again
    CHECK(w.processes.spawned() == std::vector<int>{1000});
    for (const std::string& run : w.processes.RunLines())
      CHECK(run.rfind("check ", 0) != 0);
    CHECK(w.Saved().phase == Phase::kPromoted);
    CHECK(w.Saved().stable_slot == "green");
  }
  SECTION("dead") {
    World w;
    KilledAfterSpawn(&w);
    w.processes.Exit(1000);
    std::string err;
    REQUIRE(ReconcileInstances(&w.ctx, &w.state, &err));
    REQUIRE(MarkInterrupted(&w.ctx, &w.state, &err));
    REQUIRE(w.Promote(false, &err) == kExitOk);
    CHECK(w.processes.spawned() == std::vector<int>{1000, 1001});
    State s = w.Saved();
    CHECK(s.phase == Phase::kPromoted);
    CHECK(s.green.instance.process.pid == 1001);
  }
}

TEST_CASE(
    "a stable version that dies during the rollout is named once, and the "
    "promotion does not count on draining it",
    "[recovery]") {
  World w;
  w.StartStable();
  w.clock.After(500, [&] { w.processes.Exit(500); });
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  std::string errors = w.err.str();
  const std::string said =
      "the stable version v1 (blue, pid 500) is not running: its share of "
      "the traffic fails or is retried on the canary";
  CHECK_THAT(errors, Catch::Contains(said));
  CHECK(errors.find(said) == errors.rfind(said));
  CHECK_THAT(w.out.str(), Catch::Contains("v1 (blue, pid 500) had already "
                                          "exited"));
}

}  // namespace
}  // namespace bgctl
