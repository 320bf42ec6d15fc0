// End-to-end: bgctl deploy and status against a real nginx from nginx/, real
// backend-sample processes and a real load generator (issue: bgctl deploy).
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/access_log.h"
#include "tests/support/e2e.h"
#include "tests/support/load.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using bgctl::testing::ChildProcess;
using bgctl::testing::CommandResult;
using bgctl::testing::LoadGenerator;
using bgctl::testing::LoadOptions;
using bgctl::testing::LoadReport;
using bgctl::testing::ReadWholeFile;
using bgctl::testing::Service;
using bgctl::testing::ServiceOptions;
using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

TEST_CASE("the first deploy goes to 100% once healthy and nginx answers v1",
          "[deploy_e2e]") {
  Service svc;
  RequireStartWithV1(&svc);
  for (int i = 0; i < 5; ++i) CHECK(VersionOf(svc.Get("/")) == "v1");
  json st = Status(svc);
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["slot"] == "blue");
  CHECK(st["stable"]["version"] == "v1");
  CHECK(st["stable"]["port"] == svc.blue());
  CHECK(st["stable"]["weight"] == 100);
  CHECK(st["canary"].is_null());
  CHECK(svc.BackendPids(svc.blue()).size() == 1);
}

TEST_CASE("deploying v2 under load through nginx fails not one request",
          "[deploy_e2e]") {
  Service svc;
  RequireStartWithV1(&svc);
  int v1_pid = svc.BackendPids(svc.blue()).at(0);
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  LoadReport report = load.Stop();
  INFO(r.out << r.err << Failures(report));
  REQUIRE(r.exit_code == 0);
  CHECK(report.sent > 500);
  CHECK(report.ok == report.sent);
  CHECK(report.errors == 0);
  CHECK(report.non2xx == 0);
  CHECK(report.per_version["v1"] > 0);
  CHECK(report.per_version["v2"] > 0);
  // Afterwards every response is v2 and v1 has exited.
  for (int i = 0; i < 20; ++i) CHECK(VersionOf(svc.Get("/")) == "v2");
  CHECK(ProcessGone(v1_pid));
  CHECK(svc.BackendPids(svc.blue()).empty());
  json st = Status(svc);
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["version"] == "v2");
  CHECK(st["stable"]["slot"] == "green");
  CHECK(st["canary"].is_null());
}

TEST_CASE(
    "a 5-second request to v1 sent just before the switch completes "
    "from v1 while v2 takes the traffic",
    "[deploy_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  auto slow = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", svc.port());
    c.set_read_timeout(20);
    auto res = c.Get("/work?ms=5000");
    return res ? std::make_pair(res->status, VersionOf(res->body))
               : std::make_pair(0, std::string());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int64_t start = NowMs();
  ChildProcess deploy;
  REQUIRE(svc.StartBgctl({"deploy", "--version", "v2"}, &deploy,
                         svc.dir() + "/deploy.log"));
  // v2 takes new requests while the slow one is still running on v1.
  std::string seen;
  for (int i = 0; i < 200 && seen != "v2"; ++i) {
    seen = VersionOf(svc.Get("/"));
    if (seen != "v2")
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(seen == "v2");
  CHECK(NowMs() - start < 4500);
  auto [status, version] = slow.get();
  CHECK(status == 200);
  CHECK(version == "v1");
  int exit_status = 0;
  REQUIRE(deploy.WaitExit(20000, &exit_status));
  INFO(ReadWholeFile(svc.dir() + "/deploy.log"));
  CHECK(bgctl::testing::ExitCode(exit_status) == 0);
}

TEST_CASE("the split in nginx's access log at each step matches its weight",
          "[deploy_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 10, pause: 2s}, {weight: 50, pause: 2s}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  LoadOptions lo = SteadyLoad(svc.port());
  lo.rate = 400;
  LoadGenerator load(lo);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  LoadReport report = load.Stop();
  INFO(r.out << r.err << Failures(report));
  REQUIRE(r.exit_code == 0);
  // Every reload starts new workers: count requests per worker pid, give
  // each worker to the step whose weight is nearest its canary share, then
  // check each step's share over all its workers (one worker alone is not
  // exact: the shared zone balances across workers).
  std::map<int64_t, std::pair<int, int>> per_pid;  // pid -> (green, all)
  std::string log = ReadWholeFile(svc.nginx().access_log_path());
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    bgctl::LogRecord rec;
    if (bgctl::ParseLogLine(std::string_view(log).substr(start, end - start),
                            &rec) &&
        rec.uri == "/") {
      auto& c = per_pid[rec.pid];
      c.first += bgctl::LastUpstreamPort(rec.upstream_addr) == svc.green();
      c.second++;
    }
    start = end + 1;
  }
  const std::vector<int> weights = {0, 10, 50, 100};
  std::map<int, std::pair<int, int>> per_step;  // weight -> (green, all)
  for (const auto& [pid, c] : per_pid) {
    if (c.second < 20) continue;  // an old worker finishing a few requests
    double share = 100.0 * c.first / c.second;
    int nearest = weights[0];
    for (int w : weights)
      if (std::abs(share - w) < std::abs(share - nearest)) nearest = w;
    per_step[nearest].first += c.first;
    per_step[nearest].second += c.second;
  }
  for (int w : {10, 50, 100}) {
    auto [green, all] = per_step[w];
    INFO("step " << w << "%: " << green << " of " << all);
    CHECK(all >= 200);
    // Tolerance: 2 percentage points (smooth weighted round robin over a
    // shared zone is exact but for requests in flight across a switch).
    CHECK(std::abs(100.0 * green / std::max(all, 1) - w) <= 2.0);
  }
  CHECK(report.errors == 0);
}

TEST_CASE(
    "a version that never becomes healthy is stopped and no request "
    "reaches it",
    "[deploy_e2e]") {
  ServiceOptions o;
  o.health =
      "{path: /healthz, interval: 50ms, timeout: 500ms, healthy_threshold: 2, "
      "deadline: 2s}";
  Service svc;
  RequireStartWithV1(&svc, o);
  std::string bad = svc.WriteConfig("bad.yaml", [&] {
    ServiceOptions b = o;
    b.backend_args = ", --unhealthy";
    return b;
  }());
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  int64_t start = NowMs();
  CommandResult r = svc.Bgctl({"deploy", "--version", "v3"}, bad);
  int64_t took = NowMs() - start;
  LoadReport report = load.Stop();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(took < 2000 + 3000);
  CHECK(r.err.find("v3 (green, port " + std::to_string(svc.green()) +
                   ") not healthy within 2s") != std::string::npos);
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  CHECK(report.per_version.count("v3") == 0);
  CHECK(svc.BackendPids(svc.green()).empty());
  CHECK(VersionOf(svc.Get("/")) == "v1");
  // Not one request reached the canary's port through nginx.
  CHECK(ReadWholeFile(svc.nginx().access_log_path())
            .find("127.0.0.1:" + std::to_string(svc.green())) ==
        std::string::npos);
  json st = Status(svc);
  CHECK(st["phase"] == "rolled_back");
  CHECK(st["stable"]["version"] == "v1");
  CHECK(st["canary"].is_null());
}

TEST_CASE(
    "a version that crashes while starting is rolled back with its log "
    "tail",
    "[deploy_e2e]") {
  Service svc;
  RequireStartWithV1(&svc);
  ServiceOptions b;
  b.backend_args = ", --no-such-flag";
  std::string bad = svc.WriteConfig("crash.yaml", b);
  CommandResult r = svc.Bgctl({"deploy", "--version", "v3"}, bad);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("exited while starting; last lines of its log:") !=
        std::string::npos);
  CHECK(r.err.find("--no-such-flag") != std::string::npos);
  CHECK(VersionOf(svc.Get("/")) == "v1");
}

TEST_CASE("a second deploy while one runs exits 4 at once naming the holder",
          "[deploy_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 10, pause: 3s}, {weight: 100}]";
  Service svc;
  RequireStartWithV1(&svc, o);
  ChildProcess first;
  REQUIRE(svc.StartBgctl({"deploy", "--version", "v2"}, &first,
                         svc.dir() + "/first.log"));
  // Wait until the first deploy holds the lock (its state says progressing).
  for (int i = 0; i < 200; ++i) {
    if (ReadWholeFile(svc.state_path()).find("progressing") !=
        std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int64_t start = NowMs();
  CommandResult second = svc.Bgctl({"deploy", "--version", "v3"});
  CHECK(NowMs() - start < 1000);
  CHECK(second.exit_code == 4);
  CHECK(second.err.find("another bgctl (pid " + std::to_string(first.pid()) +
                        ") holds the lock") != std::string::npos);
  int status = 0;
  REQUIRE(first.WaitExit(30000, &status));
  CHECK(bgctl::testing::ExitCode(status) == 0);
}

TEST_CASE(
    "a failing nginx test puts the previous upstream file back byte for "
    "byte and traffic goes on",
    "[deploy_e2e]") {
  Service svc;
  RequireStartWithV1(&svc);
  std::string before = ReadWholeFile(svc.nginx().upstream_file());
  // The same service, but nginx's test command fails.
  std::string cfg = ReadWholeFile(svc.config_path());
  size_t at = cfg.find("  test_command:");
  size_t eol = cfg.find('\n', at);
  cfg.replace(at, eol - at, "  test_command: [/bin/false]");
  REQUIRE(bgctl::testing::WriteWholeFile(svc.dir() + "/broken.yaml", cfg));
  LoadGenerator load(SteadyLoad(svc.port()));
  load.Start();
  CommandResult r =
      svc.Bgctl({"deploy", "--version", "v2"}, svc.dir() + "/broken.yaml");
  LoadReport report = load.Stop();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("nginx config test failed") != std::string::npos);
  CHECK(ReadWholeFile(svc.nginx().upstream_file()) == before);
  CHECK(report.errors == 0);
  CHECK(report.ok == report.sent);
  CHECK(report.per_version.count("v2") == 0);
  CHECK(VersionOf(svc.Get("/")) == "v1");
  CHECK(svc.BackendPids(svc.green()).empty());
}

TEST_CASE("a bad config exits 2 naming file, line and key, and starts nothing",
          "[deploy_e2e]") {
  Service svc;
  std::string err;
  REQUIRE(svc.Start({}, &err));
  std::string cfg = ReadWholeFile(svc.config_path());
  cfg += "surprise: 1\n";
  REQUIRE(bgctl::testing::WriteWholeFile(svc.config_path(), cfg));
  int line = static_cast<int>(std::count(cfg.begin(), cfg.end(), '\n'));
  CommandResult r = svc.Bgctl({"deploy", "--version", "v1"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "bgctl: " + svc.config_path() + ":" + std::to_string(line) +
                     ": surprise: unknown key\n");
  CHECK(svc.BackendPids(svc.blue()).empty());
  CommandResult v = svc.Bgctl({"deploy", "--version", "v 2"});
  CHECK(v.exit_code == 2);
}
