#include "controller/analysis_file.h"

#include <catch2/catch.hpp>

#include "controller/fake_env.h"
#include "controller/judge.h"

namespace bgctl {
namespace {

const std::string kPath = "/srv/demo/.bgctl/analysis.json";

nlohmann::json RunningEvidence() {
  JudgeSetup setup;
  setup.stable_port = 8081;
  setup.canary_port = 8082;
  setup.steps = {{10, 30000, false}, {100, 0, false}};
  std::unique_ptr<CanaryJudge> judge = MakeJudge(AnalysisConfig(), setup);
  judge->BeginStep(0, 10, 0);
  LineOutcome o;
  o.slot[kCanary] = {true, false, false, true};
  o.latency_ms = 4;
  for (int i = 0; i < 12; ++i) judge->AddOutcome(o);
  judge->Update(1200, -1);
  return judge->EvidenceJson();
}

TEST_CASE("analysis.json is written atomically with the deploy it belongs to",
          "[analysis_file]") {
  fake::FakeFileSystem fs;
  std::string err;
  REQUIRE(WriteAnalysis(&fs, kPath, "demo", "d-7", 1700000000123,
                        RunningEvidence(), &err));
  REQUIRE(fs.writes().size() == 1);
  const nlohmann::json doc = ReadAnalysisOfDeploy(&fs, kPath, "d-7");
  REQUIRE(doc.is_object());
  CHECK(doc["version"] == 1);
  CHECK(doc["service"] == "demo");
  CHECK(doc["deploy_id"] == "d-7");
  CHECK(doc["updated_at_ms"] == 1700000000123);
  CHECK(doc["method"] == "sequential");
  CHECK(doc["step"]["canary"]["requests"] == 12);
  CHECK(doc["step"]["tests"].size() == 4);
  // Another deploy's, a corrupt or a missing file is no analysis.
  CHECK(ReadAnalysisOfDeploy(&fs, kPath, "d-8").is_null());
  CHECK(ReadAnalysisOfDeploy(&fs, kPath, "").is_null());
  fs.files[kPath] = "{\"version\": \"1\", \"deploy_id\": \"d-7\"}";
  CHECK(ReadAnalysisOfDeploy(&fs, kPath, "d-7").is_null());
  fs.files[kPath] = "{not json";
  CHECK(ReadAnalysisOfDeploy(&fs, kPath, "d-7").is_null());
  fs.files.erase(kPath);
  CHECK(ReadAnalysisOfDeploy(&fs, kPath, "d-7").is_null());
}

TEST_CASE("the evidence reads as a few lines for status and one for a log",
          "[analysis_file]") {
  const nlohmann::json doc = RunningEvidence();
  const std::string text = AnalysisText(doc);
  CHECK_THAT(text, Catch::StartsWith(
                       "  analysis: sequential, alpha 0.01; step 1 at 10% for "
                       "1.2 s: canary 12 req (0.00% 5xx), stable 0 req (0.00% "
                       "5xx)\n  evidence (reject at 400): errors vs stable 1, "
                       "error rate "));
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  const std::string line = AnalysisOneLine(doc);
  CHECK_THAT(line, Catch::StartsWith("analysis=sequential step=1@10% "
                                     "errors_vs_stable=1/400 error_rate="));
  CHECK(line.find('\n') == std::string::npos);
  CHECK(AnalysisText(nullptr) == "");
  CHECK(AnalysisOneLine(nullptr) == "");
  // A hand-edited file with the wrong types does not throw.
  CHECK(AnalysisText({{"method", 3}}) == "  analysis: unreadable\n");
}

}  // namespace
}  // namespace bgctl
