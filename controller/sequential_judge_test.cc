// The sequential judge on attributed requests fed directly (no log files):
// decisions, their boundaries, the alpha budget across steps and processes,
// and the evidence it shows.
#include "controller/sequential_judge.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "controller/sequential.h"

namespace bgctl {
namespace {

constexpr int kStablePort = 8081, kCanaryPort = 8082;

LineOutcome Request(int slot, bool error, double latency_ms = 5) {
  LineOutcome o;
  o.slot[slot] = {true, error, false, true};
  o.latency_ms = latency_ms;
  return o;
}

void Add(CanaryJudge* j, int slot, int n, bool error, double ms = 5) {
  for (int i = 0; i < n; ++i) j->AddOutcome(Request(slot, error, ms));
}

JudgeSetup Setup(std::vector<StepConfig> steps = {{10, 30000, false},
                                                  {100, 0, false}}) {
  JudgeSetup s;
  s.stable_port = kStablePort;
  s.canary_port = kCanaryPort;
  s.steps = std::move(steps);
  return s;
}

double Evidence(const nlohmann::json& doc, const std::string& test) {
  for (const nlohmann::json& t : doc["step"]["tests"])
    if (t["name"] == test) return t["evidence"].get<double>();
  FAIL("no test " << test);
  return 0;
}

TEST_CASE("a canary like stable passes its step with evidence near 1",
          "[sequential_judge]") {
  SequentialJudge j(AnalysisConfig(), Setup());
  j.BeginStep(0, 10, 0);
  for (int t = 1; t <= 1500; ++t) {     // 30 s of 20 ms ticks
    Add(&j, kCanary, 1, t % 200 == 0);  // 0.5% errors on both
    Add(&j, kStable, 1, t % 22 == 0);
    Add(&j, kStable, 8, false);
    REQUIRE(j.Update(t * 20, 5).kind == DecisionKind::kContinue);
  }
  const nlohmann::json doc = j.EvidenceJson();
  CHECK(doc["step"]["canary"]["requests"] == 1500);
  CHECK(doc["step"]["canary_share"].get<double>() == Approx(0.1));
  for (const char* test :
       {"errors_vs_stable", "error_rate", "latency_vs_stable", "p99_limit"})
    CHECK(Evidence(doc, test) < 2);
  const Decision d = j.EndStep(30000, 5);
  CHECK(d.kind == DecisionKind::kPass);
  CHECK_THAT(d.reason, Catch::StartsWith("no test reached its bound"));
}

TEST_CASE(
    "a canary answering 30% errors is cut after fewer canary requests than "
    "the window rule's min_requests",
    "[sequential_judge]") {
  SequentialJudge j(AnalysisConfig(), Setup());
  j.BeginStep(0, 10, 0);
  int canary = 0;
  Decision d;
  for (int t = 1; t <= 1500 && d.kind == DecisionKind::kContinue; ++t) {
    // 3 of every 10 canary requests fail; stable at 0.1%.
    Add(&j, kCanary, 1, canary % 10 < 3);
    canary++;
    Add(&j, kStable, 1, t % 111 == 0);
    Add(&j, kStable, 8, false);
    d = j.Update(t * 20, -1);
  }
  REQUIRE(d.kind == DecisionKind::kReject);
  CHECK(canary < 50);
  CHECK_THAT(d.reason, Catch::Contains("evidence") && Catch::Contains(">="));
  const nlohmann::json doc = j.EvidenceJson();
  REQUIRE(doc["decisions"].size() == 1);
  CHECK(doc["decisions"][0]["decision"] == "reject");
  CHECK(doc["steps"][0]["decision"] == "reject");
  CHECK_THAT(j.EvidenceTable(), Catch::Contains("step 1 at 10%: reject"));
}

TEST_CASE(
    "a step is no_data exactly when even an all-failing canary could not "
    "have been rejected",
    "[sequential_judge]") {
  // One analysed step: error_rate gets all of alpha / 4, bound 400. With
  // max_error_rate 0.01 and k = 3, 2 failing requests give log BF 5.65 and
  // 3 give 9.36 (sequential_test.cc); log 400 = 5.99: 3 are needed.
  for (int canary : {0, 2, 3}) {
    SequentialJudge j(AnalysisConfig(), Setup());
    j.BeginStep(0, 10, 0);
    Add(&j, kCanary, canary, false);
    Add(&j, kStable, 100, false);
    const Decision d = j.EndStep(30000, -1);
    INFO(canary << " canary requests: " << d.reason);
    if (canary < 3) {
      CHECK(d.kind == DecisionKind::kNoData);
      CHECK(d.reason == std::to_string(canary) +
                            " canary requests: too few to reject even a "
                            "canary failing every one (the error-rate test "
                            "needs 3)");
    } else {
      CHECK(d.kind == DecisionKind::kPass);
    }
  }
  // A step without a pause is never no_data: it had nothing to judge.
  SequentialJudge j(AnalysisConfig(), Setup());
  j.BeginStep(1, 100, 0);
  CHECK(j.EndStep(0, -1).kind == DecisionKind::kPass);
}

TEST_CASE(
    "alpha is split over the tests, and each test's share over the steps it "
    "can judge",
    "[sequential_judge]") {
  AnalysisConfig cfg;
  cfg.alpha = 0.02;
  SequentialJudge j(cfg, Setup({{10, 1000, false},
                                {50, 1000, false},
                                {100, 1000, false},
                                {100, 0, false}}));
  j.BeginStep(0, 10, 0);
  nlohmann::json doc = j.EvidenceJson();
  for (const nlohmann::json& t : doc["step"]["tests"]) {
    CHECK(t["alpha"].get<double>() == Approx(0.005));
    CHECK(t["bound"].get<double>() == Approx(200));
    // The comparisons cannot judge at 100% (no stable traffic).
    const bool comparison =
        t["name"] == "errors_vs_stable" || t["name"] == "latency_vs_stable";
    CHECK(t["step_weight"].get<double>() ==
          Approx(comparison ? 1.0 / 2 : 1.0 / 3));
  }
  j.EndStep(1000, -1);
  j.BeginStep(1, 50, 1000);
  j.EndStep(2000, -1);
  j.BeginStep(2, 100, 2000);
  doc = j.EvidenceJson();
  for (const nlohmann::json& t : doc["step"]["tests"]) {
    const bool comparison =
        t["name"] == "errors_vs_stable" || t["name"] == "latency_vs_stable";
    CHECK(t["step_weight"].get<double>() == Approx(comparison ? 0 : 1.0 / 3));
    CHECK(t["spent"].get<double>() == Approx(1));
  }
}

TEST_CASE(
    "a promote from another process continues the budget and the record of "
    "the deploy",
    "[sequential_judge]") {
  const JudgeSetup setup =
      Setup({{10, 1000, false}, {50, 1000, false}, {100, 0, false}});
  SequentialJudge first(AnalysisConfig(), setup);
  first.BeginStep(0, 10, 0);
  Add(&first, kCanary, 200, false);
  Add(&first, kCanary, 2, true);
  Add(&first, kStable, 1800, false);
  REQUIRE(first.EndStep(1000, -1).kind == DecisionKind::kPass);
  const nlohmann::json saved = first.EvidenceJson();
  const double spent = saved["budget"]["error_rate"]["spent"].get<double>();
  CHECK(spent == Approx(0.5));

  JudgeSetup again = setup;
  again.resume = saved;
  SequentialJudge second(AnalysisConfig(), again);
  first.BeginStep(1, 50, 2000);
  second.BeginStep(1, 50, 2000);
  const nlohmann::json a = first.EvidenceJson(), b = second.EvidenceJson();
  for (const char* test :
       {"errors_vs_stable", "error_rate", "latency_vs_stable", "p99_limit"})
    CHECK(Evidence(a, test) == Approx(Evidence(b, test)).epsilon(1e-12));
  CHECK(b["budget"]["error_rate"]["spent"].get<double>() == Approx(1));
  CHECK(b["decisions"].size() == 1);
  CHECK(b["steps"].size() == 1);
  // Another method's record is no budget: start afresh.
  nlohmann::json other = saved;
  other["method"] = "windows";
  again.resume = other;
  SequentialJudge fresh(AnalysisConfig(), again);
  fresh.BeginStep(1, 50, 2000);
  CHECK(fresh.EvidenceJson()["decisions"].empty());
  CHECK(Evidence(fresh.EvidenceJson(), "error_rate") == Approx(1));
}

TEST_CASE(
    "errors vs stable rejects only when the canary's rate is above stable's "
    "by more than the absolute margin",
    "[sequential_judge]") {
  AnalysisConfig cfg;
  cfg.max_error_rate = 1;  // the absolute test can never reject
  auto run = [&](double floor) {
    cfg.error_margin.absolute = floor;
    SequentialJudge j(cfg, Setup({{50, 30000, false}, {100, 0, false}}));
    j.BeginStep(0, 50, 0);
    // 20,000 requests each; all 20 errors on the canary: 0.1% vs 0%.
    Add(&j, kStable, 20000, false);
    Add(&j, kCanary, 19980, false);
    Add(&j, kCanary, 20, true);
    return j.Update(20, -1);
  };
  const Decision closed = run(0.001);  // 0.1% is not above 0.1 points
  CHECK(closed.kind == DecisionKind::kContinue);
  const Decision open = run(0.0009);
  CHECK(open.kind == DecisionKind::kReject);
  CHECK_THAT(open.reason, Catch::StartsWith("errors vs stable: 20 of 20 5xx "
                                            "from the canary"));
}

TEST_CASE("a slow canary is rejected by the latency comparison",
          "[sequential_judge]") {
  AnalysisConfig cfg;
  cfg.max_p99_latency_ms = 5000;
  SequentialJudge j(cfg, Setup());
  j.BeginStep(0, 10, 0);
  // The first canary requests wait until stable has 50 latencies.
  Add(&j, kCanary, 5, false, 300);
  CHECK(j.Update(20, -1).kind == DecisionKind::kContinue);
  Add(&j, kStable, 60, false, 10);
  Decision d = j.Update(40, -1);
  for (int t = 3; t < 100 && d.kind == DecisionKind::kContinue; ++t) {
    Add(&j, kCanary, 1, false, 300);
    Add(&j, kStable, 9, false, 10);
    d = j.Update(t * 20, -1);
  }
  REQUIRE(d.kind == DecisionKind::kReject);
  // stable p90 10 ms: threshold max(12.5, 20) ms.
  CHECK_THAT(d.reason, Catch::StartsWith("latency vs stable: ") &&
                           Catch::Contains("slower than 20.0 ms"));
}

TEST_CASE("CPU above the limit over an interval rejects, at the limit it does not",
          "[sequential_judge]") {
  AnalysisConfig cfg;
  cfg.interval_ms = 1000;
  for (double cpu : {85.0, 85.5}) {
    SequentialJudge j(cfg, Setup());
    j.BeginStep(0, 10, 0);
    Decision d;
    for (int t = 1; t <= 50 && d.kind == DecisionKind::kContinue; ++t)
      d = j.Update(t * 20, cpu);
    if (cpu == 85) {
      CHECK(d.kind == DecisionKind::kContinue);
    } else {
      CHECK(d.kind == DecisionKind::kReject);
      CHECK(d.reason == "cpu 85.5% > 85% over 1.0 s");
    }
  }
}

TEST_CASE("retries away from the canary count as canary errors",
          "[sequential_judge]") {
  SequentialJudge j(AnalysisConfig(), Setup());
  j.BeginStep(0, 10, 0);
  LineOutcome retried;
  retried.slot[kCanary] = {true, true, true, false};
  retried.slot[kStable] = {true, false, false, true};
  for (int i = 0; i < 3; ++i) j.AddOutcome(retried);
  const Decision d = j.Update(20, -1);
  REQUIRE(d.kind == DecisionKind::kReject);
  CHECK_THAT(d.reason, Catch::StartsWith("error rate: 3 of 3 canary requests"));
}

TEST_CASE(
    "lines outside a step are not judged, and evidence lines come every "
    "interval",
    "[sequential_judge]") {
  AnalysisConfig cfg;
  cfg.interval_ms = 1000;
  SequentialJudge j(cfg, Setup());
  Add(&j, kCanary, 10, true);
  j.BeginStep(0, 10, 0);
  Add(&j, kCanary, 1, false);
  for (int t = 1; t <= 125; ++t) j.Update(t * 20, -1);
  const std::vector<JudgeEvent> events = j.TakeEvents();
  REQUIRE(events.size() == 2);  // at 1 s and 2 s
  CHECK(events[0].kind == "evidence");
  CHECK_THAT(events[0].message,
             Catch::StartsWith("evidence at 10% after 1.0 s: canary 1 req, "
                               "0 5xx; stable 0 req, 0 5xx; errors vs "
                               "stable 1, error rate "));
  CHECK(events[1].fields["elapsed_ms"] == 2000);
  CHECK(j.TakeEvents().empty());
  CHECK(j.Live().canary.requests == 1);
  j.EndStep(2500, -1);
  Add(&j, kCanary, 10, true);
  CHECK(j.Live().canary.requests == 1);
}

}  // namespace
}  // namespace bgctl
