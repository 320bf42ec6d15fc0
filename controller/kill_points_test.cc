// Every state-changing command killed at each of its kill points, on the
// fakes of rollout_harness.h: deploy, promote, set-weight, abort, rollback
// and the keep_previous retirement. The kill is a throw from the kill-point
// hook (failpoint.h), so nothing after it runs and the fakes (processes,
// nginx, files) stay as a SIGKILL leaves the world. Then a new "process"
// loads state.json, recovers as every command does (RecoverOnOpen) and runs
// the next command. After it, the phase, the canary and the history line
// agree, nginx serves what the state says, and only recorded instances run.
#include <catch2/catch.hpp>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "controller/failpoint.h"
#include "controller/recovery.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

struct Killed {
  std::string where;
};

// Kills (throws Killed) at the n-th kill point while it lives.
class KillAt {
 public:
  explicit KillAt(int n) {
    SetFailpointHookForTesting([this, n](const char* name) {
      if (++hits_ == n)
        throw Killed{std::string(name) + " (hit " + std::to_string(n) + ")"};
    });
  }
  ~KillAt() { SetFailpointHookForTesting(nullptr); }
  KillAt(const KillAt&) = delete;
  KillAt& operator=(const KillAt&) = delete;

 private:
  int hits_ = 0;
};

using Command = std::function<ExitCode(World*, std::string*)>;

// What a new bgctl process does: state.json read again, then recovered
// (commands.cc's OpenSession), then the command.
ExitCode NewProcess(World* w, const Command& command, std::string* err) {
  w->state = w->Saved();
  if (!RecoverOnOpen(&w->ctx, &w->state, err)) return kExitFailed;
  return command(w, err);
}

ExitCode DoAbort(World* w, std::string* err) {
  return Abort(&w->ctx, &w->state, err);
}
ExitCode DoPromote(World* w, std::string* err) {
  return bgctl::Promote(&w->ctx, &w->state, false, err);
}
ExitCode DoRollback(World* w, std::string* err) {
  return Rollback(&w->ctx, &w->state, err);
}
ExitCode DoRetire(World* w, std::string* err) {
  return RetirePrevious(&w->ctx, &w->state, err);
}
ExitCode DoDeploy(World* w, std::string* err) {
  return w->Deploy("v9", err, {{100, 0, false}});
}

// The backend processes alive now (not bgctl's own timers).
std::set<int> Running(World* w) {
  std::set<int> pids;
  std::vector<int> all = w->processes.spawned();
  for (int pid = 500; pid < 510; ++pid) all.push_back(pid);
  for (int pid : all) {
    if (!w->processes.Has(pid)) continue;
    const fake::FakeProcess& p = w->processes.Process(pid);
    if (p.alive && (p.spec.argv.empty() || p.spec.argv[0] == "bin/app"))
      pids.insert(pid);
  }
  return pids;
}

std::set<int> Recorded(const State& s) {
  std::set<int> pids;
  for (const SlotState* slot : {&s.blue, &s.green})
    if (slot->instance.process.pid != 0)
      pids.insert(slot->instance.process.pid);
  return pids;
}

// The outcomes the last history line about the state's deploy may have.
std::set<std::string> OutcomesFor(Phase phase) {
  switch (phase) {
    case Phase::kPromoted:
      return {"promoted", "failed"};
    case Phase::kAborted:
      return {"aborted"};
    case Phase::kRolledBack:
      return {"rolled_back"};
    default:
      return {};
  }
}

// After the recovery: no rollout half done, nginx and the file on the
// state's split, no instance the state does not record or keeps past its
// time, and a history line for the state's outcome.
void CheckSettled(World* w, const std::string& what) {
  INFO(what);
  const State s = w->Saved();
  CHECK(s.canary_slot.empty());
  CHECK_FALSE(s.traffic_unknown);
  CHECK_FALSE(s.pending_history.has_value());
  CHECK(w->server.served_generation == s.generation);
  const int stable = w->cfg.PortOf(s.stable_slot);
  CHECK(w->server.served_text == Upstream({{stable, 100}}, s.generation));
  CHECK(Running(w) == Recorded(s));
  CHECK(w->processes.IsAlive(s.Slot(s.stable_slot).instance.process));
  // No previous instance kept past its time (its timer may be what died).
  CHECK(OverduePrevious(&w->ctx, s).empty());
  const std::set<std::string> allowed = OutcomesFor(s.phase);
  REQUIRE_FALSE(allowed.empty());
  std::string last;
  for (const HistoryEntry& e : w->History())
    if (e.id == s.deploy_id || e.ends == s.deploy_id) last = e.outcome;
  CHECK(allowed.count(last) == 1);
}

struct Scenario {
  std::string name;
  std::function<void(World*)> setup;  // the state before the command
  Command command;                    // the one killed
  std::vector<std::pair<std::string, Command>> recoveries;
};

// v1 stable in blue with its deploy in the history.
void StableWithHistory(World* w) {
  w->StartStable();
  HistoryEntry e;
  e.id = "d-1";
  e.command = "deploy";
  e.version = "v1";
  e.outcome = "promoted";
  RecordHistory(&w->ctx, e);
}

void Paused(World* w) {
  StableWithHistory(w);
  w->cfg.rollout.steps = {{10, 0, true}, {50, 300, false}, {100, 0, false}};
  std::string err;
  REQUIRE(w->Deploy("v2", &err) == kExitOk);
  w->state = w->Saved();
}

void Promoted(World* w, bool keep_previous) {
  StableWithHistory(w);
  w->cfg.rollout.steps = {{50, 300, false}, {100, 0, false}};
  w->cfg.rollout.keep_previous_ms = keep_previous ? 60000 : 0;
  std::string err;
  REQUIRE(w->Deploy("v2", &err) == kExitOk);
  w->state = w->Saved();
}

std::vector<Scenario> Scenarios() {
  const std::pair<std::string, Command> abort = {"abort", DoAbort},
                                        promote = {"promote", DoPromote},
                                        rollback = {"rollback", DoRollback},
                                        deploy = {"deploy", DoDeploy};
  return {
      {"deploy",
       StableWithHistory,
       [](World* w, std::string* e) {
         w->cfg.rollout.steps = {{10, 300, false}, {100, 0, false}};
         return w->Deploy("v2", e);
       },
       {abort, promote}},
      {"promote", Paused, DoPromote, {abort, promote}},
      {"set-weight",
       Paused,
       [](World* w, std::string* e) {
         return SetWeight(&w->ctx, &w->state, 50, e);
       },
       {abort, promote}},
      {"abort", Paused, DoAbort, {abort, promote, deploy}},
      {"rollback with the previous instance kept",
       [](World* w) { Promoted(w, true); },
       DoRollback,
       {abort, promote, rollback}},
      {"rollback that restarts the previous version",
       [](World* w) { Promoted(w, false); },
       DoRollback,
       {abort, promote, rollback}},
      {"keep_previous retirement",
       [](World* w) {
         Promoted(w, true);
         w->clock.SleepMs(60000);
       },
       DoRetire,
       {abort, deploy}},
  };
}

TEST_CASE(
    "every state-changing command killed at each kill point leaves a state "
    "the next command settles, with phase, canary and history in agreement, "
    "nginx on the state's split and no instance unrecorded",
    "[recovery][kill_points]") {
  for (const Scenario& sc : Scenarios()) {
    for (const auto& [recovery_name, recovery] : sc.recoveries) {
      bool completed = false;
      int n = 1;
      for (; n <= 200 && !completed; ++n) {
        World w;
        sc.setup(&w);
        const std::string where =
            sc.name + " killed at kill point " + std::to_string(n);
        std::string err;
        try {
          KillAt kill(n);
          sc.command(&w, &err);
          completed = true;  // it ran to the end: every point was tried
        } catch (const Killed& k) {
          INFO(where << ": " << k.where);
        }
        if (completed) break;
        std::string rec_err;
        const ExitCode code = NewProcess(&w, recovery, &rec_err);
        INFO(where << ", then " << recovery_name << ": exit " << code << " "
                   << rec_err << "\n"
                   << w.out.str() << w.err.str());
        CHECK((code == kExitOk || code == kExitFailed));
        CheckSettled(&w, where + ", then " + recovery_name);
      }
      INFO(sc.name << " with " << recovery_name);
      CHECK(completed);
      CHECK(n >= 3);
    }
  }
}

TEST_CASE(
    "an abort killed after it saved its outcome is finished by the next "
    "abort, promote or set-weight, and history says aborted once",
    "[recovery][kill_points]") {
  for (const Command& next :
       std::vector<Command>{DoAbort, DoPromote, [](World*w, std::string*e) {
                              return SetWeight(&w->ctx, &w->state, 50, e);
                            }}) {
    World w;
    Paused(&w);
    std::string err;
    try {
      KillAt kill(1);  // the abort's first save: its outcome
      DoAbort(&w, &err);
      FAIL("the abort was not killed");
    } catch (const Killed&) {
    }
    State s = w.Saved();
    CHECK(s.phase == Phase::kAborted);
    CHECK(s.canary_slot == "green");
    REQUIRE(s.pending_history.has_value());
    NewProcess(&w, next, &err);
    s = w.Saved();
    CHECK(s.phase == Phase::kAborted);
    CHECK(s.canary_slot.empty());
    CHECK_FALSE(w.processes.IsAlive(w.processes.Process(1000).id));
    int aborts = 0;
    for (const HistoryEntry& e : w.History())
      aborts += e.outcome == "aborted" && e.ends == s.deploy_id;
    CHECK(aborts == 1);
  }
}

}  // namespace
}  // namespace bgctl
