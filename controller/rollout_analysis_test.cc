// The rollout with the sequential judge (the default method) on the fakes of
// rollout_harness.h: a bad canary cut with its evidence, the evidence file
// other processes read, and the alpha budget carried across a promote.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "controller/rollout.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

const std::string kAnalysisPath = kStateDir + "/analysis.json";

nlohmann::json Analysis(World* w) {
  return nlohmann::json::parse(w->fs.Contents(kAnalysisPath));
}

const nlohmann::json& TestOf(const nlohmann::json& step,
                             const std::string& name) {
  for (const nlohmann::json& t : step["tests"])
    if (t["name"] == name) return t;
  FAIL("no test " << name);
  static const nlohmann::json none;
  return none;
}

TEST_CASE(
    "the sequential judge cuts a failing canary at once and shows the "
    "evidence it crossed",
    "[rollout][sequential_judge]") {
  World w;
  w.StartStable();
  w.cfg.rollout.steps = {{10, 5000, false}, {100, 0, false}};
  int64_t bad_at = -1;
  w.server.on_serving = [&](uint64_t generation) {
    if (generation != 2) return;
    w.clock.After(300, [&] {
      w.AppendLog(kGreen, 503, 4);
      w.AppendLog(kBlue, 200, 36);
      bad_at = w.clock.NowMs();
    });
  };
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitRolledBack);
  CHECK_THAT(err, Catch::StartsWith("analysis: error rate: 4 of 4 canary "
                                    "requests 5xx"));
  // Cut in the tick that read the lines.
  CHECK(w.LastUpstreamWriteMs() == bad_at);
  const std::string out = w.out.str();
  CHECK_THAT(out, Catch::Contains("step 1 at 10%: reject after 0."));
  CHECK_THAT(out, Catch::Contains("  error rate                4/4"));
  const nlohmann::json doc = Analysis(&w);
  CHECK(doc["version"] == 1);
  CHECK(doc["deploy_id"] == w.Saved().deploy_id);
  CHECK(doc["method"] == "sequential");
  REQUIRE(doc["decisions"].size() == 1);
  CHECK(doc["decisions"][0]["decision"] == "reject");
  const nlohmann::json& rate = TestOf(doc["steps"][0], "error_rate");
  CHECK(rate["crossed"] == true);
  CHECK(rate["evidence"].get<double>() >= rate["bound"].get<double>());
  CHECK(rate["crossed_canary_requests"] == 4);
}

TEST_CASE(
    "a rejected canary's traffic is cut before the evidence file is written, "
    "and the verdict is said before the cut",
    "[rollout][sequential_judge]") {
  World w;
  w.StartStable();
  w.cfg.rollout.steps = {{10, 5000, false}, {100, 0, false}};
  w.server.on_serving = [&](uint64_t generation) {
    if (generation != 2) return;
    w.clock.After(300, [&] {
      w.AppendLog(kGreen, 503, 4);
      w.AppendLog(kBlue, 200, 36);
    });
  };
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitRolledBack);
  // The last upstream file (everything on blue) precedes the last evidence.
  size_t last_upstream = 0, last_evidence = 0;
  const auto& writes = w.fs.writes();
  for (size_t i = 0; i < writes.size(); ++i) {
    if (writes[i].path == kUpstreamFile) last_upstream = i;
    if (writes[i].path == kAnalysisPath) last_evidence = i;
  }
  CHECK(writes[last_upstream].contents ==
        Upstream({{kBlue, 100}}, w.Saved().generation));
  CHECK(last_upstream < last_evidence);
  CHECK(Analysis(&w)["decisions"][0]["decision"] == "reject");
  const std::string out = w.out.str();
  INFO(out);
  const size_t verdict =
      out.find("rolling back (analysis): all traffic to v1 (blue)");
  const size_t cut = out.find("weight 0% on canary v2 confirmed");
  REQUIRE(verdict != std::string::npos);
  REQUIRE(cut != std::string::npos);
  CHECK(verdict < cut);
}

TEST_CASE(
    "the evidence file is rewritten at most every 500 ms and at every "
    "decision",
    "[rollout][sequential_judge]") {
  World w;
  w.StartStable();
  w.cfg.rollout.steps = {{10, 5000, false}, {100, 0, false}};
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  std::vector<int64_t> at;
  for (const auto& write : w.fs.writes())
    if (write.path == kAnalysisPath) at.push_back(write.at_ms);
  REQUIRE(at.size() >= 10);
  for (size_t i = 1; i + 2 < at.size(); ++i) CHECK(at[i] - at[i - 1] >= 500);
  CHECK(at.size() <= 5000 / 500 + 4);
  const nlohmann::json doc = Analysis(&w);
  REQUIRE(doc["decisions"].size() == 2);
  CHECK(doc["decisions"][0]["decision"] == "no_data");
  CHECK(doc["decisions"][1]["decision"] == "pass");
  CHECK_THAT(w.out.str(),
             Catch::Contains("no verdict at 10%: 0 canary requests: too few "
                             "to reject even a canary failing every one"));
}

TEST_CASE(
    "a promote after a pause continues the deploy's alpha budget where the "
    "deploy left it",
    "[rollout][sequential_judge]") {
  World w;
  w.StartStable();
  // Two analysed steps (10% and 50%): each gets half of every test's alpha.
  w.cfg.rollout.steps = {
      {10, 1000, false}, {30, 0, true}, {50, 1000, false}, {100, 0, false}};
  w.server.on_serving = [&](uint64_t generation) {
    if (generation == 2) w.AppendLog(kGreen, 200, 30);
  };
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  REQUIRE(w.Saved().phase == Phase::kPaused);
  nlohmann::json doc = Analysis(&w);
  CHECK(doc["budget"]["error_rate"]["spent"] == 0.5);
  REQUIRE(w.Promote(false, &err) == kExitOk);
  doc = Analysis(&w);
  // The promote's step 3 got the other half, not a fresh budget.
  const nlohmann::json& third = doc["steps"][doc["steps"].size() - 2];
  CHECK(third["index"] == 2);
  CHECK(TestOf(third, "error_rate")["step_weight"] == 0.5);
  CHECK(doc["budget"]["error_rate"]["spent"] == 1);
  // Every decision of the deploy, the first process's too.
  std::vector<std::string> decisions;
  for (const nlohmann::json& d : doc["decisions"])
    decisions.push_back(d["decision"].get<std::string>() + "@" +
                        std::to_string(d["step"].get<int>()));
  CHECK(decisions == std::vector<std::string>{"pass@0", "no_data@2", "pass@3"});
}

}  // namespace
}  // namespace bgctl
