// The judge counts a request in the step during which it started, not the
// one during which its line is written (issue 16, item 9): a long request
// sent to the process that held the canary's port before this deploy (the
// previous stable, drained) must not count as the canary's when it ends in
// 502s during the canary's first step. bench/keepalive_judge saw healthy
// deploys rolled back for such lines (request_time 1-8 s).
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "controller/judge.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

// `count` lines of requests to `port` answered `status` that took
// `request_ms` and end now.
void AppendLong(World* w, int port, int status, int count, int request_ms) {
  FILE* f = std::fopen(w->cfg.nginx.access_log.c_str(), "a");
  REQUIRE(f != nullptr);
  const double msec = static_cast<double>(w->clock.WallMs()) / 1000;
  for (int i = 0; i < count; ++i)
    std::fprintf(f,
                 "{\"msec\":%.3f,\"pid\":4000,\"method\":\"GET\",\"uri\":\"/\","
                 "\"status\":%d,\"request_time\":%.3f,\"upstream_addr\":"
                 "\"127.0.0.1:%d\",\"upstream_status\":\"%d\","
                 "\"upstream_response_time\":\"%.3f\",\"bytes_sent\":120,"
                 "\"time\":\"2023-11-14T22:13:21+00:00\"}\n",
                 msec, status, request_ms / 1000.0, port, status,
                 request_ms / 1000.0);
  std::fclose(f);
}

TEST_CASE(
    "502s of requests that started before the step, on the port the canary "
    "took over, are not the canary's and roll nothing back",
    "[rollout][sequential_judge]") {
  World w;
  w.StartStable();
  w.cfg.rollout.steps = {{10, 2000, false}, {100, 0, false}};
  // In step 1: healthy traffic, and 8 requests sent 7.8 s ago to the old
  // process on green's port that end now as 502s.
  w.clock.After(1200, [&] {
    w.AppendLog(kBlue, 200, 300);
    w.AppendLog(kGreen, 200, 30);
    AppendLong(&w, kGreen, 502, 8, 7800);
  });
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  CHECK(w.Saved().phase == Phase::kPromoted);
  CHECK_THAT(w.out.str(), Catch::Contains("canary 30 req, 0 5xx"));
}

TEST_CASE(
    "a judge counts a line by when its request started: before CountFrom "
    "it is skipped and counted apart",
    "[sequential_judge]") {
  AnalysisConfig config;
  JudgeSetup setup;
  setup.stable_port = kBlue;
  setup.canary_port = kGreen;
  setup.steps = {{10, 1000, false}, {100, 0, false}};
  std::unique_ptr<CanaryJudge> judge = MakeJudge(config, setup);
  judge->BeginStep(0, 10, 0);
  judge->CountFrom(1700000010000);
  // Ended at 10.5 s, took 1 s: started at 9.5 s, before the step.
  judge->AddLine(
      "{\"msec\":1700000010.500,\"status\":502,\"request_time\":1.000,"
      "\"upstream_addr\":\"127.0.0.1:8082\",\"upstream_status\":\"502\"}");
  // Ended at 10.5 s, took 0.4 s: started at 10.1 s, in the step.
  judge->AddLine(
      "{\"msec\":1700000010.500,\"status\":200,\"request_time\":0.400,"
      "\"upstream_addr\":\"127.0.0.1:8082\",\"upstream_status\":\"200\"}");
  CHECK(judge->started_before() == 1);
  CHECK(judge->Live().canary.requests == 1);
  CHECK(judge->Live().canary.errors_5xx == 0);
}

}  // namespace
}  // namespace bgctl
