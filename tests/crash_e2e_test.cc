// End-to-end: bgctl killed (SIGKILL, as a power cut) at every kill point of a
// deploy, of a deploy that rolls back a bad canary, of a rollback, of a
// promote, a set-weight and an abort of a paused rollout
// (controller/failpoint.h: BGCTL_FAILPOINT=*:N kills it at the N-th one), then
// recovered with abort or promote; and the keep_previous timer killed before
// it stops the previous instance. After each recovery
// no rollout is left half done, nginx serves what the state says, and every
// backend process on a slot port is one the state records (no orphan). Real
// nginx, real backend-sample processes, load through nginx for the whole run.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/e2e.h"
#include "tests/support/load.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// Fast steps, fast health checks, a bad canary cut within a few requests.
ServiceOptions Options() {
  ServiceOptions o;
  o.steps = "[{weight: 50, pause: 300ms}, {weight: 100}]";
  o.health =
      "{path: /healthz, interval: 30ms, timeout: 500ms, healthy_threshold: 2, "
      "deadline: 5s}";
  o.analysis =
      "{interval: 200ms, min_requests: 5, failure_limit: 1, max_error_rate: "
      "0.05, max_p99_latency: 2s, max_latency_ratio: 1000}";
  return o;
}

// The pids the state records as running: stable and a kept previous.
std::set<int> Recorded(const json& status) {
  std::set<int> pids;
  for (const char* who : {"stable", "canary", "previous"})
    if (status.contains(who) && status[who].is_object() &&
        status[who].value("pid", 0) > 0)
      pids.insert(status[who]["pid"].get<int>());
  return pids;
}

std::set<int> Running(Service& svc) {
  std::set<int> pids;
  for (int port : {svc.blue(), svc.green()})
    for (int pid : svc.BackendPids(port)) pids.insert(pid);
  return pids;
}

std::string Describe(const std::set<int>& pids) {
  std::string s;
  for (int pid : pids) s += std::to_string(pid) + " ";
  return s;
}

// After a recovery: no rollout under way, the split known and served by
// nginx, and the backends on the slot ports exactly the recorded ones
// (draining ones get a few seconds to finish).
void CheckConsistent(Service& svc, const std::string& when) {
  json st = Status(svc);
  INFO(when << "\nstatus: " << st.dump(2));
  REQUIRE(st.is_object());
  CHECK(st["canary"].is_null());
  CHECK(st["traffic"]["known"] == true);
  std::string phase = st.value("phase", "");
  CHECK((phase == "promoted" || phase == "aborted" || phase == "rolled_back"));
  int http = 0;
  CHECK(svc.Get("/__bgctl/generation", &http) ==
        std::to_string(st["generation"].get<uint64_t>()));
  std::set<int> recorded = Recorded(st);
  CHECK(WaitFor([&] { return Running(svc) == recorded; }, 5000));
  INFO("running: " << Describe(Running(svc))
                   << " recorded: " << Describe(recorded));
  CHECK(Running(svc) == recorded);
}

enum class Scenario {
  kDeploy,
  kBadDeploy,
  kRollback,
  kPromote,    // of a rollout paused at 50%
  kSetWeight,  // 80% on a rollout paused at 50%
  kAbort,      // of a rollout paused at 50%
};

struct Run {
  Scenario scenario;
  std::string recovery;  // "abort" or "promote"
};

// The command a scenario kills, for version `v`; for a rollback, first a
// deploy of `v` (not killed) to roll back from; for promote, set-weight and
// abort, a deploy of `v` paused at 50% (`paused_config`).
std::vector<std::string> Prepare(Service& svc, const Run& run,
                                 const std::string& v,
                                 const std::string& paused_config) {
  const bool paused = run.scenario == Scenario::kPromote ||
                      run.scenario == Scenario::kSetWeight ||
                      run.scenario == Scenario::kAbort;
  if (run.scenario == Scenario::kRollback || paused) {
    CommandResult d = svc.Bgctl({"deploy", "--version", v},
                                paused ? paused_config : svc.config_path());
    INFO(d.out << d.err);
    REQUIRE(d.exit_code == 0);
  }
  switch (run.scenario) {
    case Scenario::kRollback:
      return {"rollback"};
    case Scenario::kPromote:
      return {"promote"};
    case Scenario::kSetWeight:
      return {"set-weight", "80"};
    case Scenario::kAbort:
      return {"abort"};
    default:
      return {"deploy", "--version", v};
  }
}

// The exit codes a recovery may end with: 0, or 1 when the killed command
// had already got past the point where there is anything to recover (a
// promotion done, a rollback switched, an abort saved), or 3 when promote
// resumes a bad canary and the analysis rolls it back again.
bool RecoveryExitOk(const Run& run, int code) {
  if (code == 0 || code == 1) return true;
  return code == 3 && run.scenario == Scenario::kBadDeploy &&
         run.recovery == "promote";
}

void KillAtEveryPoint(const Run& run) {
  Service svc;
  RequireStartWithV1(&svc, Options());
  ServiceOptions bad = Options();
  bad.backend_args = ", --error-rate, \"0.6\"";
  std::string bad_config = svc.WriteConfig("bad.yaml", bad);
  ServiceOptions paused = Options();
  paused.steps = "[{weight: 50, pause: forever}, {weight: 100}]";
  std::string paused_config = svc.WriteConfig("paused.yaml", paused);
  std::string config =
      run.scenario == Scenario::kBadDeploy ? bad_config
      : run.scenario == Scenario::kRollback || run.scenario == Scenario::kDeploy
          ? svc.config_path()
          : paused_config;
  LoadGenerator load(SteadyLoad(svc.port(), 150));
  load.Start();

  bool completed = false;
  int version = 2;
  for (int n = 1; n <= 60 && !completed; ++n) {
    std::vector<std::string> args =
        Prepare(svc, run, "v" + std::to_string(version++), paused_config);
    CommandResult killed = svc.Bgctl(
        args, config, {{"BGCTL_FAILPOINT", "*:" + std::to_string(n)}});
    std::string where = "kill point " + std::to_string(n) + " of " + args[0] +
                        ": " + killed.err;
    if (killed.exit_code != 128 + 9) {
      // It ran to the end: every kill point before this one was tried.
      INFO(where << killed.out);
      CHECK(killed.exit_code == (run.scenario == Scenario::kBadDeploy ? 3 : 0));
      CHECK(n > (run.scenario == Scenario::kAbort ? 3 : 5));
      // set-weight leaves the rollout paused: end it as a user would.
      if (run.scenario == Scenario::kSetWeight)
        CHECK(svc.Bgctl({"abort"}).exit_code == 0);
      CheckConsistent(svc, where + " (ran to the end)");
      completed = true;
      break;
    }
    REQUIRE(killed.err.find("bgctl: failpoint ") != std::string::npos);
    CommandResult rec = svc.Bgctl({run.recovery}, config);
    INFO(where << "\n"
               << run.recovery << ": exit " << rec.exit_code << "\n"
               << rec.out << rec.err);
    CHECK(RecoveryExitOk(run, rec.exit_code));
    CheckConsistent(svc, where + ", then " + run.recovery);
  }
  CHECK(completed);
  LoadReport report = load.Stop();
  INFO(Failures(report));
  CHECK(report.sent > 500);
  CHECK(report.errors == 0);
  // The bad canary answers 500s by design while it is judged.
  if (run.scenario != Scenario::kBadDeploy) CHECK(report.non2xx == 0);
}

}  // namespace

TEST_CASE(
    "a deploy killed at every kill point and recovered with abort leaves no "
    "orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kDeploy, "abort"});
}

TEST_CASE(
    "a deploy killed at every kill point and recovered with promote leaves "
    "no orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kDeploy, "promote"});
}

TEST_CASE(
    "a bad canary's deploy killed at every kill point, its rollback "
    "included, and recovered with abort leaves no orphan and loses no "
    "request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kBadDeploy, "abort"});
}

TEST_CASE(
    "a bad canary's deploy killed at every kill point and recovered with "
    "promote is cut again and leaves no orphan",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kBadDeploy, "promote"});
}

TEST_CASE(
    "a rollback killed at every kill point and recovered with abort leaves "
    "no orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kRollback, "abort"});
}

TEST_CASE(
    "a rollback killed at every kill point and recovered with promote "
    "leaves no orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kRollback, "promote"});
}

TEST_CASE(
    "a promote of a paused rollout killed at every kill point and recovered "
    "with abort or promote leaves no orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kPromote, "abort"});
  KillAtEveryPoint({Scenario::kPromote, "promote"});
}

TEST_CASE(
    "a set-weight killed at every kill point and recovered with abort or "
    "promote leaves no orphan and fails no request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kSetWeight, "abort"});
  KillAtEveryPoint({Scenario::kSetWeight, "promote"});
}

TEST_CASE(
    "an abort killed at every kill point is finished by the next abort or "
    "promote, with the canary stopped, no orphan and no failed request",
    "[crash_e2e]") {
  KillAtEveryPoint({Scenario::kAbort, "abort"});
  KillAtEveryPoint({Scenario::kAbort, "promote"});
}

TEST_CASE(
    "a keep_previous timer killed before it stops the previous instance "
    "leaves it to the next command, which stops it",
    "[crash_e2e]") {
  Service svc;
  ServiceOptions o = Options();
  o.keep_previous = "1s";
  RequireStartWithV1(&svc, o);
  // Only the timer reaches the kill point "stopping": the deploy has no
  // instance to stop (its free slot is empty) and keeps the previous one.
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"}, "",
                              {{"BGCTL_FAILPOINT", "stopping"}});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  const std::string timer_log = svc.dir() + "/state/logs/bgctl-retire.log";
  CHECK(WaitFor(
      [&] {
        return ReadWholeFile(timer_log).find("bgctl: failpoint stopping") !=
               std::string::npos;
      },
      10000));
  CHECK(svc.BackendPids(svc.blue()).size() == 1);  // v1, kept past its time
  CommandResult next = svc.Bgctl({"abort"});
  INFO(next.out << next.err);
  CHECK(next.exit_code == 1);  // nothing to abort, but v1 is stopped
  CHECK_THAT(next.out, Catch::Contains("is kept no longer: stopping it"));
  CHECK(WaitFor([&] { return svc.BackendPids(svc.blue()).empty(); }, 5000));
  CheckConsistent(svc, "after the killed keep_previous timer");
}
