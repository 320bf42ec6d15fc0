// The operator's transitions (operations.cc: set-weight, abort, rollback,
// the keep_previous timer) on fakes of every side effect; see
// rollout_harness.h.
#include <catch2/catch.hpp>

#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

TEST_CASE(
    "set-weight 0 sends all traffic to stable and keeps the canary running",
    "[rollout]") {
  World w;
  PausedAtTen(&w);
  std::string err;
  REQUIRE(SetWeight(&w.ctx, &w.state, 0, &err) == kExitOk);
  CHECK(w.UpstreamWrites().back() == Upstream({{kBlue, 100}}, 3));
  CHECK(w.server.served_text == Upstream({{kBlue, 100}}, 3));
  CHECK(w.processes.signals().empty());
  State s = w.Saved();
  CHECK(s.phase == Phase::kPaused);
  CHECK(s.canary_slot == "green");
  CHECK(s.canary_weight == 0);
  CHECK(s.green.instance.process.pid == 1000);
  CHECK_THAT(w.out.str(), Catch::Contains("rollout paused at 0%"));
}

TEST_CASE("set-weight 100 sends all traffic to the canary without promoting",
          "[rollout]") {
  World w;
  PausedAtTen(&w);
  std::string err;
  REQUIRE(SetWeight(&w.ctx, &w.state, 100, &err) == kExitOk);
  CHECK(w.UpstreamWrites().back() == Upstream({{kGreen, 100}}, 3));
  CHECK(w.processes.signals().empty());
  State s = w.Saved();
  CHECK(s.phase == Phase::kPaused);
  CHECK(s.stable_slot == "blue");
  CHECK(s.canary_slot == "green");
  CHECK(s.canary_weight == 100);
  CHECK(s.owner_pid == 0);
}

TEST_CASE("set-weight outside 0-100 is a usage error and changes nothing",
          "[rollout]") {
  World w;
  PausedAtTen(&w);
  size_t writes = w.fs.writes().size();
  std::string err;
  CHECK(SetWeight(&w.ctx, &w.state, 101, &err) == kExitUsage);
  CHECK(err == "weight must be 0-100, got 101");
  CHECK(SetWeight(&w.ctx, &w.state, -1, &err) == kExitUsage);
  CHECK(err == "weight must be 0-100, got -1");
  CHECK(w.fs.writes().size() == writes);
}

TEST_CASE("set-weight with no rollout under way is refused", "[rollout]") {
  World w;
  w.StartStable();
  std::string err;
  REQUIRE(SetWeight(&w.ctx, &w.state, 50, &err) == kExitFailed);
  CHECK(err ==
        "no rollout under way (phase promoted): nothing to set a weight for");
  CHECK(w.UpstreamWrites().empty());
}

TEST_CASE("abort moves all traffic to stable, stops the canary and records it",
          "[rollout]") {
  World w;
  PausedAtTen(&w);
  std::string err;
  REQUIRE(Abort(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.UpstreamWrites().back() == Upstream({{kBlue, 100}}, 3));
  CHECK(w.server.served_text == Upstream({{kBlue, 100}}, 3));
  CHECK(w.Actions() ==
        std::vector<std::string>{"spawn 1000 bin/app --port 8082 --version v2",
                                 "reload 2", "serving 2", "reload 3",
                                 "serving 3", "signal 1000 15"});
  State s = w.Saved();
  CHECK(s.phase == Phase::kAborted);
  CHECK(s.canary_slot == "");
  CHECK(s.green.instance.process.pid == 0);
  CHECK(s.last_error == "aborted by the operator");
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 2);
  CHECK(h[1].command == "abort");
  CHECK(h[1].version == "v2");
  CHECK(h[1].from_version == "v1");
  CHECK(h[1].outcome == "aborted");
  CHECK(h[1].reason == "aborted by the operator");
  CHECK_THAT(w.out.str(),
             Catch::Contains("aborted: traffic on blue, canary stopped"));
}

TEST_CASE("abort with no rollout under way is refused", "[rollout]") {
  World w;
  w.StartStable();
  std::string err;
  REQUIRE(Abort(&w.ctx, &w.state, &err) == kExitFailed);
  CHECK(err == "no rollout under way (phase promoted): nothing to abort");
  CHECK(w.fs.writes().size() == 1);  // StartStable's own save
  CHECK(w.processes.signals().empty());
}

TEST_CASE(
    "rollback with the previous instance alive is one upstream write and no "
    "spawn",
    "[rollout]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);
  w.cfg.hooks.on_rollback = {"hooks/notify", "{version}", "{slot}"};
  std::string err;
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.UpstreamWrites() ==
        std::vector<std::string>{Upstream({{kBlue, 100}}, 5)});
  CHECK(w.processes.spawned().empty());
  CHECK(w.Actions() ==
        std::vector<std::string>{"reload 5", "serving 5", "signal 500 15"});
  CHECK(w.processes.RunLines().back() == "hooks/notify v1 blue");
  State s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.stable_slot == "blue");
  CHECK(s.blue.instance.process.pid == 501);
  CHECK(s.green.instance.process.pid == 0);
  CHECK(s.previous_slot == "");
  CHECK(s.previous_version == "");
  CHECK(s.last_error == "");  // the operator's choice, not an error
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 1);
  CHECK(h[0].command == "rollback");
  CHECK(h[0].version == "v1");
  CHECK(h[0].from_version == "v2");
  CHECK(h[0].outcome == "rolled_back");
}

TEST_CASE(
    "rollback with the previous instance exited restarts it, waits until "
    "healthy, switches, then stops the demoted one",
    "[rollout]") {
  World w;
  w.StartPromoted(/*previous_alive=*/false);
  w.http.Statuses(kBlue, "/healthz", {503, 200});
  std::string err;
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.Actions() ==
        std::vector<std::string>{"exit 501",
                                 "spawn 1000 bin/app --port 8081 --version v1",
                                 "reload 5", "serving 5", "signal 500 15"});
  // Healthy after checks at 0 (503), 200, 400 and 600 ms.
  CHECK(w.http.Count(kBlue, "/healthz") == 4);
  REQUIRE(w.server.reloads.size() == 1);
  CHECK(w.server.reloads[0].at_ms ==
        w.processes.Process(1000).started_at_ms + 600);
  CHECK(w.UpstreamWrites() ==
        std::vector<std::string>{Upstream({{kBlue, 100}}, 5)});
  State s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.stable_slot == "blue");
  CHECK(s.blue.instance.process.pid == 1000);
  CHECK(s.blue.version == "v1");
  CHECK(s.green.instance.process.pid == 0);
}

TEST_CASE("a second rollback in a row is refused", "[rollout]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);
  std::string err;
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
  w.state = w.Saved();
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitFailed);
  CHECK(err ==
        "nothing to roll back to: the last operation was already a rollback");
  CHECK(w.UpstreamWrites().size() == 1);
}

TEST_CASE("rollback during a rollout is refused", "[rollout]") {
  World w;
  PausedAtTen(&w);
  std::string err;
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitFailed);
  CHECK(err == "a rollout is under way: use `bgctl abort` to stop it");
}

TEST_CASE(
    "keep_previous leaves the old instance running and starts a "
    "retire-previous timer that stops it only when the time is up",
    "[rollout]") {
  World w;
  w.StartStable();
  w.cfg.rollout.keep_previous_ms = 60000;
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  CHECK(w.processes.signals().empty());
  CHECK(w.processes.IsAlive(w.processes.Process(500).id));
  REQUIRE(w.processes.spawned() == std::vector<int>{1000, 1001});
  const SpawnSpec& timer = w.processes.Process(1001).spec;
  CHECK(timer.argv == std::vector<std::string>{"/usr/local/bin/bgctl", "-c",
                                               w.cfg.path, "retire-previous",
                                               "--after", "60000ms"});
  CHECK(timer.log_path == kStateDir + "/logs/bgctl-retire.log");
  State s = w.Saved();
  CHECK(s.previous_slot == "blue");
  CHECK(s.blue.instance.process.pid == 500);
  CHECK(s.previous_expires_ms == w.clock.WallMs() + 60000);
  CHECK_THAT(w.out.str(), Catch::Contains("previous instance v1 (blue) kept "
                                          "for 1m for an instant rollback"));

  w.state = w.Saved();
  w.clock.SleepMs(59999);
  REQUIRE(RetirePrevious(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.processes.signals().empty());
  w.clock.SleepMs(1);
  REQUIRE(RetirePrevious(&w.ctx, &w.state, &err) == kExitOk);
  REQUIRE(w.processes.signals().size() == 1);
  CHECK(w.processes.signals()[0].pid == 500);
  CHECK(w.processes.signals()[0].sig == SIGTERM);
  CHECK(w.Saved().blue.instance.process.pid == 0);
}

TEST_CASE(
    "the next deploy stops a kept previous instance before starting in its "
    "slot",
    "[rollout]") {
  World w;
  w.StartStable();
  w.cfg.rollout.keep_previous_ms = 60000;
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  w.journal.clear();
  REQUIRE(w.Deploy("v3", &err, {{100, 0, false}}) == kExitOk);
  std::vector<std::string> actions = w.Actions();
  REQUIRE(actions.size() >= 2);
  CHECK(actions[0] == "signal 500 15");
  CHECK(actions[1] == "spawn 1002 bin/app --port 8081 --version v3");
  State s = w.Saved();
  CHECK(s.stable_slot == "blue");
  CHECK(s.blue.version == "v3");
  CHECK(s.previous_slot == "green");
  CHECK(s.previous_version == "v2");
}

TEST_CASE(
    "an old instance that ignores the drain signal is killed at the drain "
    "timeout",
    "[rollout]") {
  World w;
  w.StartStable();
  w.cfg.backend.drain.timeout_ms = 1000;
  w.processes.Process(500).ignores_drain = true;
  std::string err;
  REQUIRE(w.Deploy("v2", &err, {{100, 0, false}}) == kExitOk);
  const auto& sent = w.processes.signals();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].pid == 500);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(sent[1].pid == 500);
  CHECK(sent[1].sig == SIGKILL);
  CHECK(sent[1].at_ms - sent[0].at_ms == 1000);
  CHECK(w.Saved().blue.instance.process.pid == 0);
  CHECK_THAT(w.out.str(),
             Catch::Contains("v1 (blue, pid 500) did not exit within the "
                             "drain timeout; killed after 1000 ms"));
}

TEST_CASE(
    "rollback after a rolled-back deploy restarts the previous version, not "
    "the failed one, in its slot",
    "[rollout]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);
  // v3 goes to blue (stopping v1 there) and fails its health checks.
  w.cfg.backend.health.deadline_ms = 1000;
  w.http.Statuses(kBlue, "/healthz", {503});
  std::string err;
  REQUIRE(w.Deploy("v3", &err) == kExitRolledBack);
  w.http.Statuses(kBlue, "/healthz", {200});
  w.state = w.Saved();
  w.journal.clear();
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.Actions() ==
        std::vector<std::string>{"spawn 1001 bin/app --port 8081 --version v1",
                                 "reload 5", "serving 5", "signal 500 15"});
  State s = w.Saved();
  CHECK(s.stable_slot == "blue");
  CHECK(s.blue.version == "v1");
  CHECK(s.blue.instance.process.pid == 1001);
}

}  // namespace
}  // namespace bgctl
