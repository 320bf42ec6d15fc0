// End-to-end: bgctl killed (SIGKILL, as a power cut) at every kill point of a
// deploy, of a deploy that rolls back a bad canary, and of a rollback
// (controller/failpoint.h: BGCTL_FAILPOINT=*:N kills it at the N-th one), then
// recovered with abort or promote. After each recovery
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

enum class Scenario { kDeploy, kBadDeploy, kRollback };

struct Run {
  Scenario scenario;
  std::string recovery;  // "abort" or "promote"
};

// The command a scenario kills, for version `v`; for a rollback, first a
// deploy of `v` (not killed) to roll back from.
std::vector<std::string> Prepare(Service& svc, const Run& run,
                                 const std::string& v) {
  if (run.scenario == Scenario::kRollback) {
    CommandResult d = svc.Bgctl({"deploy", "--version", v});
    INFO(d.out << d.err);
    REQUIRE(d.exit_code == 0);
    return {"rollback"};
  }
  return {"deploy", "--version", v};
}

// The exit codes a recovery may end with: 0, or 1 when the killed command
// had already got past the point where there is anything to recover (a
// promotion done, a rollback switched), or 3 when promote resumes a bad
// canary and the analysis rolls it back again.
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
  std::string config =
      run.scenario == Scenario::kBadDeploy ? bad_config : svc.config_path();
  LoadGenerator load(SteadyLoad(svc.port(), 150));
  load.Start();

  bool completed = false;
  int version = 2;
  for (int n = 1; n <= 60 && !completed; ++n) {
    std::vector<std::string> args =
        Prepare(svc, run, "v" + std::to_string(version++));
    CommandResult killed = svc.Bgctl(
        args, config, {{"BGCTL_FAILPOINT", "*:" + std::to_string(n)}});
    std::string where = "kill point " + std::to_string(n) + " of " + args[0] +
                        ": " + killed.err;
    if (killed.exit_code != 128 + 9) {
      // It ran to the end: every kill point before this one was tried.
      INFO(where << killed.out);
      CHECK(killed.exit_code == (run.scenario == Scenario::kBadDeploy ? 3 : 0));
      CHECK(n > 5);
      CheckConsistent(svc, where + " (ran to the end)");
      completed = true;
      break;
    }
    REQUIRE(killed.err.find("bgctl: failpoint ") != std::string::npos);
    CommandResult rec = svc.Bgctl({run.recovery});
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
