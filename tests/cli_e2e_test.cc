// End-to-end: the command line's answers to bad input and to a second
// command at the wrong time (exit code and message, one JSON document), and
// SIGINT to a rollback that waits for the previous version to get healthy.
// Real bgctl binary, real nginx and backend-sample processes.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/e2e.h"
#include "tests/support/process_guard.h"
#include "tests/support/require.h"
#include "tests/support/service.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// The one JSON document of `--output json` output.
json Document(const CommandResult& r) {
  json j = json::parse(r.out, nullptr, false);
  INFO(r.out << r.err);
  REQUIRE(j.is_object());
  return j;
}

}  // namespace

TEST_CASE(
    "status --watch refuses a negative count and a zero interval, deploy an "
    "empty --steps, each with exit 2 and the reason",
    "[cli_e2e]") {
  Service svc;
  RequireStartWithV1(&svc);
  CommandResult r = svc.Bgctl({"status", "--watch", "--count", "-1"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "bgctl: --count: must be 0 (until Ctrl-C) or more, got -1\n");
  r = svc.Bgctl({"status", "--watch", "--interval", "0s"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "bgctl: --interval: must be greater than 0, got 0s\n");
  r = svc.Bgctl({"deploy", "--version", "v2", "--steps", ""});
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "bgctl: --steps: step 1 (\"\"): expected a weight (an integer "
        "1-100)\n");
  // Nothing was started: v1 alone serves.
  CHECK(Status(svc)["canary"].is_null());
  CHECK(svc.BackendPids(svc.green()).empty());
}

TEST_CASE(
    "a deploy while a rollout is paused says why, in text and as one JSON "
    "document with an error member",
    "[cli_e2e]") {
  Service svc;
  ServiceOptions o;
  o.steps = "[{weight: 10, pause: forever}, {weight: 100}]";
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  const std::string why =
      "a rollout of v2 is under way (phase paused): use `bgctl promote`, "
      "`bgctl set-weight` or `bgctl abort`";
  CommandResult r = svc.Bgctl({"deploy", "--version", "v3"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("bgctl: " + why) != std::string::npos);
  r = svc.Bgctl({"--output", "json", "deploy", "--version", "v3"});
  CHECK(r.exit_code == 1);
  json j = Document(r);
  CHECK(j["exit_code"] == 1);
  CHECK(j["error"] == why);
  REQUIRE(svc.Bgctl({"abort"}).exit_code == 0);
}

TEST_CASE(
    "SIGINT to a rollback waiting for the restarted previous version stops "
    "that version and leaves the promoted one serving",
    "[cli_e2e]") {
  Service svc;
  ServiceOptions o;
  o.steps = "[{weight: 100}]";
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  // v1 has exited (keep_previous 0s): a rollback starts it again. This one
  // never gets healthy, so the rollback waits.
  ServiceOptions slow = o;
  slow.backend_args = ", --unhealthy";
  slow.health =
      "{path: /healthz, interval: 50ms, timeout: 500ms, healthy_threshold: 2, "
      "deadline: 30s}";
  std::string config = svc.WriteConfig("slow.yaml", slow);
  ChildProcess rollback;
  std::string log = svc.dir() + "/rollback.log";
  REQUIRE(svc.StartBgctl({"rollback"}, &rollback, log, config));
  REQUIRE(
      WaitFor([&] { return svc.BackendPids(svc.blue()).size() == 1; }, 10000));
  int restarted = svc.BackendPids(svc.blue())[0];
  SleepMs(200);  // into the health wait
  REQUIRE(rollback.Running());
  REQUIRE(rollback.Signal(SIGINT));
  int status = 0;
  REQUIRE(rollback.WaitExit(15000, &status));
  INFO(ReadWholeFile(log));
  CHECK(ExitCode(status) == 1);
  CHECK(ReadWholeFile(log).find("rollback aborted: bgctl received a stop "
                                "signal") != std::string::npos);
  CHECK(WaitFor([&] { return ProcessGone(restarted); }, 5000));
  json st = Status(svc);
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["version"] == "v2");
  CHECK(st["canary"].is_null());
  CHECK(st["previous"]["version"] == "v1");  // still there for another try
  CHECK(VersionOf(svc.Get("/")) == "v2");
}
