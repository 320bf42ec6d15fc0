// A rollback that nginx cannot confirm (its master is down: the reload
// command fails, the probe gets no answer) is not lost: it stays under way,
// interrupted, and the next `bgctl rollback` (or `promote`) finishes it once
// nginx runs; `bgctl abort` stays on the current version. Issue 16, item 8.
#include <catch2/catch.hpp>

#include "controller/recovery.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

// nginx's master is gone: every reload fails, the probe gets no answer.
void NginxDown(World* w) {
  w->server.probe_error = "connection refused";
  for (int i = 0; i < 10; ++i)
    w->server.reload_results.push_back(RunResult{
        1, false,
        "nginx: [error] open() \"/run/nginx.pid\" failed (2: No such file "
        "or directory)\n"});
}

void NginxUp(World* w) {
  w->server.probe_error.clear();
  w->server.reload_results.clear();
}

// As a new bgctl process: state.json again, recovered, then `command`.
template <typename Command>
ExitCode Next(World* w, Command command, std::string* err) {
  w->state = w->Saved();
  REQUIRE(RecoverOnOpen(&w->ctx, &w->state, err));
  return command(err);
}

TEST_CASE(
    "a rollback nginx cannot confirm stays under way with both versions "
    "running, and the next rollback finishes it",
    "[recovery][rollback]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);  // v2 green (500), v1 blue (501)
  NginxDown(&w);
  std::string err;
  w.state = w.Saved();
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitFailed);
  State s = w.Saved();
  CHECK(s.phase == Phase::kInterrupted);
  CHECK(s.owner_command == "rollback");
  CHECK(s.stable_slot == "green");
  CHECK(s.canary_slot == "blue");
  CHECK(s.traffic_unknown);
  CHECK(w.processes.IsAlive(w.processes.Process(500).id));
  CHECK(w.processes.IsAlive(w.processes.Process(501).id));
  // The file nginx reads at its next start sends everything to v1.
  CHECK(w.fs.Contents(kUpstreamFile) == Upstream({{kBlue, 100}}, s.generation));
  CHECK_THAT(w.err.str(),
             Catch::Contains("rollback to v1 not confirmed: nginx reload"));
  CHECK_THAT(w.err.str(),
             Catch::Contains("`bgctl rollback` resumes it once nginx runs, "
                             "`bgctl abort` stays on v2"));
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 1);
  CHECK(h[0].command == "rollback");
  CHECK(h[0].outcome == "interrupted");

  // A deploy meanwhile is refused and says how to go on.
  REQUIRE(Next(
              &w, [&](std::string* e) { return w.Deploy("v3", e); }, &err) ==
          kExitFailed);
  CHECK(err ==
        "a rollback to v1 is under way (phase interrupted): `bgctl rollback` "
        "resumes it, `bgctl abort` stays on v2");

  NginxUp(&w);
  REQUIRE(Next(
              &w, [&](std::string* e) { return Rollback(&w.ctx, &w.state, e); },
              &err) == kExitOk);
  s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.stable_slot == "blue");
  CHECK(s.canary_slot.empty());
  CHECK_FALSE(s.traffic_unknown);
  CHECK(w.server.served_text == Upstream({{kBlue, 100}}, s.generation));
  CHECK(w.processes.IsAlive(w.processes.Process(501).id));
  CHECK_FALSE(w.processes.IsAlive(w.processes.Process(500).id));
  h = w.History();
  REQUIRE(h.size() == 2);
  CHECK(h[1].id == h[0].id);
  CHECK(h[1].outcome == "rolled_back");
}

TEST_CASE(
    "after a rollback nginx could not confirm, abort stays on the current "
    "version and stops the previous instance",
    "[recovery][rollback]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);
  NginxDown(&w);
  std::string err;
  w.state = w.Saved();
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitFailed);
  NginxUp(&w);
  REQUIRE(Next(
              &w, [&](std::string* e) { return Abort(&w.ctx, &w.state, e); },
              &err) == kExitOk);
  State s = w.Saved();
  CHECK(s.phase == Phase::kAborted);
  CHECK(s.stable_slot == "green");
  CHECK(s.canary_slot.empty());
  CHECK(w.server.served_text == Upstream({{kGreen, 100}}, s.generation));
  CHECK(w.processes.IsAlive(w.processes.Process(500).id));
  CHECK_FALSE(w.processes.IsAlive(w.processes.Process(501).id));
  // The previous version stays on record: a later rollback starts it again.
  CHECK(s.previous_slot == "blue");
  CHECK(s.previous_version == "v1");
}

}  // namespace
}  // namespace bgctl
