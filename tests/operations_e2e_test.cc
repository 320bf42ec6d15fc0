// End-to-end: operating a rollout by hand — pause and promote, set-weight,
// abort, rollback, interrupted deploys, hooks, history and the live status
// (issue: operating a rollout). Real nginx, real processes, real load.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/access_log.h"
#include "tests/support/e2e.h"
#include "tests/support/load.h"
#include "tests/support/process_guard.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using bgctl::testing::ChildProcess;
using bgctl::testing::CommandResult;
using bgctl::testing::LoadGenerator;
using bgctl::testing::LoadOptions;
using bgctl::testing::LoadReport;
using bgctl::testing::ReadWholeFile;
using bgctl::testing::RunCommand;
using bgctl::testing::Service;
using bgctl::testing::ServiceOptions;
using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// The canary's share (percent) of the requests in the access log written
// since `offset`, by the worker generation serving them now: counts the
// requests of the last `n` log lines for "/".
double GreenShareOfLast(Service& svc, int n) {
  std::string log = ReadWholeFile(svc.nginx().access_log_path());
  std::vector<std::string_view> lines;
  size_t end = log.size();
  while (end > 0 && static_cast<int>(lines.size()) < n) {
    size_t start = log.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    bgctl::LogRecord r;
    std::string_view line = std::string_view(log).substr(start, end - start);
    if (bgctl::ParseLogLine(line, &r) && r.uri == "/") lines.push_back(line);
    if (start == 0) break;
    end = start - 1;
  }
  int green = 0;
  for (std::string_view l : lines) {
    bgctl::LogRecord r;
    bgctl::ParseLogLine(l, &r);
    green += bgctl::LastUpstreamPort(r.upstream_addr) == svc.green();
  }
  return lines.empty() ? -1 : 100.0 * green / lines.size();
}

}  // namespace

TEST_CASE(
    "pause forever at 25%, set-weight 50, then promote: each split "
    "confirmed and not one request failed",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 25, pause: forever}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  CHECK(d.out.find("paused at 25%") != std::string::npos);
  CHECK(d.out.find("bgctl promote") != std::string::npos);
  json st = Status(svc);
  CHECK(st["phase"] == "paused");
  CHECK(st["canary"]["weight"] == 25);
  CHECK(st["stable"]["weight"] == 75);
  SleepMs(1500);
  CHECK(std::abs(GreenShareOfLast(svc, 300) - 25) <= 3);

  CommandResult w = svc.Bgctl({"set-weight", "50"});
  INFO(w.out << w.err);
  REQUIRE(w.exit_code == 0);
  SleepMs(1500);
  CHECK(std::abs(GreenShareOfLast(svc, 300) - 50) <= 3);
  CHECK(Status(svc)["canary"]["weight"] == 50);

  CommandResult p = svc.Bgctl({"promote"});
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  SleepMs(500);
  LoadReport report = load.Stop();
  INFO(Failures(report));
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  st = Status(svc);
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["version"] == "v2");
  CHECK(svc.BackendPids(svc.blue()).empty());
}

TEST_CASE(
    "promote --full from a pause goes to 100% at once, abort from a "
    "pause restores stable, and abort with nothing running is an error",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps =
      "[{weight: 10, pause: forever}, {weight: 50, pause: forever}, {weight: "
      "100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  CommandResult full = svc.Bgctl({"promote", "--full"});
  INFO(full.out << full.err);
  CHECK(full.exit_code == 0);
  CHECK(full.out.find("weight 50%") == std::string::npos);
  CHECK(Status(svc)["stable"]["version"] == "v2");

  REQUIRE(svc.Bgctl({"deploy", "--version", "v3"}).exit_code == 0);
  CommandResult a = svc.Bgctl({"abort"});
  INFO(a.out << a.err);
  CHECK(a.exit_code == 0);
  json st = Status(svc);
  CHECK(st["phase"] == "aborted");
  CHECK(st["stable"]["version"] == "v2");
  CHECK(st["canary"].is_null());
  CHECK(svc.BackendPids(svc.blue()).empty());
  CHECK(VersionOf(svc.Get("/")) == "v2");

  CommandResult again = svc.Bgctl({"abort"});
  CHECK(again.exit_code == 1);
  CHECK(again.err ==
        "bgctl: no rollout under way (phase aborted): nothing to abort\n");
}

TEST_CASE(
    "rollback while the previous instance lives is one reload with zero "
    "failed requests",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 100}]";
  o.keep_previous = "60s";
  Service svc;
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  std::vector<int> v1 = svc.BackendPids(svc.blue());
  REQUIRE(v1.size() == 1);  // kept alive for an instant rollback
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  SleepMs(300);
  CommandResult r = svc.Bgctl({"rollback"});
  SleepMs(300);
  LoadReport report = load.Stop();
  INFO(r.out << r.err << Failures(report));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("restarted") == std::string::npos);
  CHECK(svc.BackendPids(svc.blue()) == v1);
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  json st = Status(svc);
  CHECK(st["phase"] == "rolled_back");
  CHECK(st["stable"]["version"] == "v1");
  CHECK(svc.BackendPids(svc.green()).empty());
  // Rollback of a rollback is not a loop.
  CommandResult twice = svc.Bgctl({"rollback"});
  CHECK(twice.exit_code == 1);
  CHECK(twice.err.find("the last operation was already a rollback") !=
        std::string::npos);
}

TEST_CASE(
    "rollback after the previous instance exited restarts it, checks "
    "its health, then switches with zero failed requests",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  REQUIRE(svc.BackendPids(svc.blue()).empty());
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  CommandResult r = svc.Bgctl({"rollback"});
  SleepMs(300);
  LoadReport report = load.Stop();
  INFO(r.out << r.err << Failures(report));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("started v1 (blue") != std::string::npos);
  CHECK(r.out.find("healthy after") != std::string::npos);
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  CHECK(VersionOf(svc.Get("/")) == "v1");
  CHECK(svc.BackendPids(svc.green()).empty());
}

TEST_CASE(
    "a deploy whose bgctl was SIGKILLed is interrupted, status shows the "
    "real pids, and abort and promote both recover with zero failures",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 30, pause: 30s}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  for (const char* recover : {"abort", "promote"}) {
    std::string version = std::string("v-") + recover;
    ChildProcess deploy;
    std::string log = svc.dir() + "/" + version + ".log";
    REQUIRE(svc.StartBgctl({"deploy", "--version", version}, &deploy, log));
    REQUIRE(WaitFor(
        [&] {
          return ReadWholeFile(log).find("weight 30%") != std::string::npos;
        },
        10000));
    deploy.Signal(SIGKILL);
    int status = 0;
    REQUIRE(deploy.WaitExit(5000, &status));
    json st = Status(svc);
    INFO(recover << " " << st.dump());
    CHECK(st["phase"] == "interrupted");
    CHECK(st["canary"]["version"] == version);
    CHECK(st["canary"]["weight"] == 30);
    std::vector<int> canary_pids =
        svc.BackendPids(st["canary"]["port"].get<int>());
    REQUIRE(canary_pids.size() == 1);
    CHECK(st["canary"]["pid"] == canary_pids[0]);
    CommandResult r = svc.Bgctl({recover});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    st = Status(svc);
    CHECK(st["canary"].is_null());
    CHECK(st["phase"] ==
          (std::string(recover) == "abort" ? "aborted" : "promoted"));
  }
  SleepMs(300);
  LoadReport report = load.Stop();
  INFO(Failures(report));
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  CHECK(VersionOf(svc.Get("/")) == "v-promote");
}

TEST_CASE(
    "a failing pre_traffic hook rolls back before any user request "
    "reaches the canary",
    "[operations_e2e]") {
  ServiceOptions o;
  Service svc;
  RequireStartWithV1(&svc, o);
  ServiceOptions hooked = o;
  hooked.hooks = "{timeout: 5s, pre_traffic: [/bin/false, \"{preview_url}\"]}";
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"},
                              svc.WriteConfig("hooked.yaml", hooked));
  LoadReport report = load.Stop();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("pre_traffic hook exited with 1") != std::string::npos);
  CHECK(report.per_version.count("v2") == 0);
  CHECK(ReadWholeFile(svc.nginx().access_log_path())
            .find("127.0.0.1:" + std::to_string(svc.green())) ==
        std::string::npos);
  CHECK(svc.BackendPids(svc.green()).empty());
}

TEST_CASE("history lists every deploy with its outcome, in text and JSON",
          "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 50, pause: forever}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"abort"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v3"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"promote"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"rollback"}).exit_code == 0);
  CommandResult j = svc.Bgctl({"--output", "json", "history"});
  REQUIRE(j.exit_code == 0);
  json h = json::parse(j.out);
  json entries = h.is_array() ? h : h["entries"];
  std::vector<std::string> seen;
  for (const json& e : entries)
    seen.push_back(e["command"].get<std::string>() + " " +
                   e["version"].get<std::string>() + " " +
                   e["outcome"].get<std::string>());
  CHECK(seen == std::vector<std::string>{
                    "deploy v1 promoted", "deploy v2 paused",
                    "abort v2 aborted", "deploy v3 paused",
                    "promote v3 promoted", "rollback v1 rolled_back"});
  CommandResult t = svc.Bgctl({"history"});
  CHECK(t.exit_code == 0);
  for (const char* word :
       {"v1", "v2", "v3", "promoted", "aborted", "rolled_back"})
    CHECK(t.out.find(word) != std::string::npos);
}

TEST_CASE(
    "status --watch redraws in place on a terminal and prints plain "
    "lines without one",
    "[operations_e2e]") {
  ServiceOptions o;
  Service svc;
  RequireStartWithV1(&svc, o);
  CommandResult plain =
      svc.Bgctl({"status", "--watch", "--interval", "200ms", "--count", "3"});
  CHECK(plain.exit_code == 0);
  CHECK(std::count(plain.out.begin(), plain.out.end(), '\n') == 3);
  CHECK(plain.out.find("\033[") == std::string::npos);
  CHECK(plain.out.find("phase promoted") != std::string::npos);
  // Under a pseudo-terminal (script(1), whose size is unknown: $COLUMNS
  // says it): cursor-home/clear and bars, as wide as the terminal allows.
  std::string cmd = std::string(BGCTL_BIN) + " -c " + svc.config_path() +
                    " status --watch --interval 200ms --count 2";
  CommandResult tty = RunCommand({"script", "-qfec", cmd, "/dev/null"}, 20000,
                                 svc.dir(), {{"COLUMNS", "200"}});
  CHECK(tty.exit_code == 0);
  CHECK(tty.out.find("\033[H\033[2J") != std::string::npos);
  CHECK(tty.out.find("[####################] 100%") != std::string::npos);
  tty = RunCommand({"script", "-qfec", cmd, "/dev/null"}, 20000, svc.dir(),
                   {{"COLUMNS", "80"}});
  CHECK(tty.out.find("[##########] 100%") != std::string::npos);
}

TEST_CASE(
    "a deploy on a terminal keeps the live view under its event lines, "
    "and prints plain lines without one",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 50, pause: 1s}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  std::string cmd = std::string(BGCTL_BIN) + " -c " + svc.config_path() +
                    " deploy --version v2";
  CommandResult tty = RunCommand({"script", "-qfec", cmd, "/dev/null"}, 30000,
                                 svc.dir(), {{"COLUMNS", "200"}});
  INFO(tty.out);
  CHECK(tty.exit_code == 0);
  CHECK(tty.out.find("weight 50% on canary v2 confirmed") != std::string::npos);
  CHECK(tty.out.find("\033[J") != std::string::npos);
  CHECK(tty.out.find("[##########..........]  50%") != std::string::npos);
  CommandResult plain = svc.Bgctl({"deploy", "--version", "v3"});
  CHECK(plain.exit_code == 0);
  CHECK(plain.out.find("\033[") == std::string::npos);
  CHECK(plain.out.find("promoted v3") != std::string::npos);
}

TEST_CASE(
    "validate passes a good config and nginx setup and exits 2 on a bad "
    "one",
    "[operations_e2e]") {
  Service svc;
  std::string err;
  REQUIRE(svc.Start({}, &err));
  CommandResult ok = svc.Bgctl({"validate"});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("configuration valid") != std::string::npos);
  // A live nginx configuration that nginx -t rejects: exit 2 with its words.
  std::string conf = ReadWholeFile(svc.nginx().nginx_conf());
  REQUIRE(bgctl::testing::WriteWholeFile(svc.nginx().nginx_conf(),
                                         conf + "\nnot_a_directive on;\n"));
  CommandResult bad = svc.Bgctl({"validate"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("nginx config test failed") != std::string::npos);
  CHECK(bad.err.find("not_a_directive") != std::string::npos);
  REQUIRE(bgctl::testing::WriteWholeFile(svc.nginx().nginx_conf(), conf));
  CommandResult typo = svc.Bgctl({"validate"}, svc.dir() + "/missing.yaml");
  CHECK(typo.exit_code == 2);
  CHECK(typo.err == "bgctl: cannot read " + svc.dir() +
                        "/missing.yaml: No such file or directory\n");
}

TEST_CASE("help lists every command and option, and --version answers",
          "[operations_e2e]") {
  CommandResult help = RunCommand({BGCTL_BIN, "--help"}, 10000);
  CHECK(help.exit_code == 0);
  for (const char* word :
       {"deploy", "status", "promote", "set-weight", "abort", "rollback",
        "history", "validate", "--config", "--output"})
    CHECK(help.out.find(word) != std::string::npos);
  CHECK(help.out.find("retire-previous") == std::string::npos);
  CommandResult deploy = RunCommand({BGCTL_BIN, "deploy", "--help"}, 10000);
  CHECK(deploy.out.find("--version") != std::string::npos);
  CHECK(deploy.out.find("--steps") != std::string::npos);
  CommandResult version = RunCommand({BGCTL_BIN, "--version"}, 10000);
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("bgctl ", 0) == 0);
  CommandResult unknown = RunCommand({BGCTL_BIN, "deploy", "--nope"}, 10000);
  CHECK(unknown.exit_code == 2);
}
