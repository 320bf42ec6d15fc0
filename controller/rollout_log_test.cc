// An access log that cannot be read during a rollout (issue 16, item 6): an
// error event when it starts and when it ends; unreadable for one analysis
// interval of a step, the step fails for lack of data and on_no_data
// decides; reported in text and JSON.
#include "controller/rollout_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

// The access log's path now names a folder: LogFollower sees the rotation,
// then cannot open the new "file".
void LogBecomesFolder(World* w) {
  const std::string& log = w->cfg.nginx.access_log;
  REQUIRE(std::rename(log.c_str(), (log + ".1").c_str()) == 0);
  REQUIRE(mkdir(log.c_str(), 0755) == 0);
}

void LogBecomesFile(World* w) {
  const std::string& log = w->cfg.nginx.access_log;
  REQUIRE(rmdir(log.c_str()) == 0);
  REQUIRE(testing::WriteWholeFile(log, ""));
}

// Steps long enough that only the unreadable log can end step 1 early.
void LongSteps(World* w) {
  w->StartStable();
  w->cfg.rollout.steps = {
      {10, 3000, false}, {50, 3000, false}, {100, 0, false}};
  w->cfg.rollout.analysis.interval_ms = 1000;
}

TEST_CASE(
    "an access log unreadable for one analysis interval fails the step, and "
    "with on_no_data rollback the canary is rolled back saying why",
    "[rollout][access_log]") {
  World w;
  LongSteps(&w);
  w.cfg.rollout.analysis.on_no_data = OnNoData::kRollback;
  w.clock.After(200, [&] { LogBecomesFolder(&w); });
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitRolledBack);
  const std::string log = w.cfg.nginx.access_log;
  CHECK(err ==
        "step 1 at 10%: no data: the access log could not be read for 1s: " +
            log + " is not a regular file (on_no_data: rollback)");
  CHECK_THAT(w.out.str(),
             Catch::Contains("] cannot read the access log: " + log +
                             " is not a regular file (the judge sees no "
                             "request while it lasts)"));
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 1);
  CHECK(h[0].outcome == "rolled_back");
  CHECK(h[0].reason_kind == "no_data");
  CHECK(w.Saved().phase == Phase::kRolledBack);
}

TEST_CASE(
    "with on_no_data continue an unreadable log is reported per step in "
    "text and JSON, and the rollout goes on",
    "[rollout][access_log]") {
  World w;
  LongSteps(&w);
  MemFile json_out, json_err;
  Reporter json(&w.clock, /*json=*/true, json_out.get(), json_err.get());
  w.ctx.out = &json;
  w.clock.After(200, [&] { LogBecomesFolder(&w); });
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  json.Finish(kExitOk);
  nlohmann::json doc = nlohmann::json::parse(json_out.str());
  std::vector<nlohmann::json> log_errors, no_data;
  for (const nlohmann::json& e : doc["events"]) {
    if (e["event"] == "log_error") log_errors.push_back(e);
    if (e["event"] == "no_data" && e.contains("unreadable_ms"))
      no_data.push_back(e);
  }
  REQUIRE(log_errors.size() == 1);
  CHECK(log_errors[0]["error"] ==
        w.cfg.nginx.access_log + " is not a regular file");
  REQUIRE(no_data.size() == 2);  // steps 1 and 2, once each
  CHECK(no_data[0]["step"] == 0);
  CHECK(no_data[1]["step"] == 1);
  CHECK(no_data[1]["unreadable_ms"] == 1000);
  CHECK_THAT(no_data[0]["message"].get<std::string>(),
             Catch::StartsWith("step 1 at 10%: no data: the access log could "
                               "not be read for 1s: "));
  CHECK_THAT(json_err.str(), Catch::Contains("bgctl: step 2 at 50%: no data: "
                                             "the access log could not be "
                                             "read for 1s"));
  CHECK(w.Saved().phase == Phase::kPromoted);
}

TEST_CASE(
    "a log unreadable for less than an interval is said when it starts and "
    "when it ends, and fails nothing",
    "[rollout][access_log]") {
  World w;
  LongSteps(&w);
  w.cfg.rollout.analysis.on_no_data = OnNoData::kRollback;
  w.cfg.rollout.steps = {{10, 3000, false}, {100, 0, false}};
  w.clock.After(200, [&] { LogBecomesFolder(&w); });
  w.clock.After(700, [&] { LogBecomesFile(&w); });
  // Requests in the log after it is back, so the step has data.
  w.clock.After(800, [&] {
    w.AppendLog(kBlue, 200, 200);
    w.AppendLog(kGreen, 200, 30);
  });
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  CHECK_THAT(w.out.str(),
             Catch::Contains("] cannot read the access log: " +
                             w.cfg.nginx.access_log + " is not a regular file"));
  CHECK_THAT(w.out.str(),
             Catch::Contains("the access log " + w.cfg.nginx.access_log +
                             " is readable again after 300ms"));
  CHECK(w.out.str().find("could not be read for") == std::string::npos);
}

TEST_CASE("RolloutLog says when reads start and stop failing", "[access_log]") {
  testing::TempDir tmp;
  REQUIRE(tmp.ok());
  const std::string path = tmp.path() + "/access.log";
  REQUIRE(testing::WriteWholeFile(path, "old\n"));
  RolloutLog log;
  CHECK(log.Open(path, 0) == RolloutLog::Status::kReadable);
  CHECK(log.unreadable_since_ms() == -1);
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  REQUIRE(mkdir(path.c_str(), 0755) == 0);
  auto none = [](std::string_view) {};
  CHECK(log.Poll(none, 100) == RolloutLog::Status::kBecameUnreadable);
  CHECK(log.error() == path + " is not a regular file");
  CHECK(log.unreadable_since_ms() == 100);
  CHECK(log.Poll(none, 150) == RolloutLog::Status::kUnreadable);
  CHECK(log.unreadable_since_ms() == 100);
  REQUIRE(rmdir(path.c_str()) == 0);
  REQUIRE(testing::WriteWholeFile(path, "new\n"));
  std::vector<std::string> lines;
  CHECK(log.Poll([&](std::string_view l) { lines.emplace_back(l); }, 400) ==
        RolloutLog::Status::kReadableAgain);
  CHECK(log.last_outage_ms() == 300);
  CHECK(log.error().empty());
  CHECK(lines == std::vector<std::string>{"new"});
  CHECK(log.Poll(none, 500) == RolloutLog::Status::kReadable);
}

}  // namespace
}  // namespace bgctl
