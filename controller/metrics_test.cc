#include "controller/metrics.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/analysis_file.h"
#include "controller/fake_env.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using nlohmann::json;
using rollout_testing::kHistoryPath;
using rollout_testing::World;

const std::string kTextfile = "/var/lib/node_exporter/textfile/demo.prom";

HistoryEntry Entry(const std::string& command, const std::string& outcome,
                   const std::string& reason_kind, int64_t ended_ms) {
  HistoryEntry e;
  e.id = "d-" + std::to_string(ended_ms - 1000);
  e.command = command;
  e.outcome = outcome;
  e.reason_kind = reason_kind;
  e.started_ms = ended_ms - 1000;
  e.ended_ms = ended_ms;
  return e;
}

// v2 in green paused at 10% over v1 in blue, generation 7.
State PausedCanary() {
  State s;
  s.phase = Phase::kPaused;
  s.stable_slot = "blue";
  s.canary_slot = "green";
  s.blue.version = "v1";
  s.green.version = "v2";
  s.canary_weight = 10;
  s.step_index = 0;
  s.step_count = 3;
  s.generation = 7;
  s.deploy_id = "d-5";
  return s;
}

json StepEvidence() {
  return json::parse(R"({"method": "sequential", "step": {"index": 0,
      "weight": 10, "in_progress": true,
      "canary": {"requests": 120, "errors_5xx": 3, "p99_ms": 41.5},
      "stable": {"requests": 1080, "errors_5xx": 1, "p99_ms": 12}}})");
}

const char* const kPausedMetrics =
    R"(# HELP bgctl_phase Rollout phase of the service: 1 for the current phase, 0 for the others.
# TYPE bgctl_phase gauge
bgctl_phase{service="demo",phase="idle"} 0
bgctl_phase{service="demo",phase="progressing"} 0
bgctl_phase{service="demo",phase="paused"} 1
bgctl_phase{service="demo",phase="promoted"} 0
bgctl_phase{service="demo",phase="rolled_back"} 0
bgctl_phase{service="demo",phase="aborted"} 0
bgctl_phase{service="demo",phase="interrupted"} 0
# HELP bgctl_canary_weight_ratio Share of the traffic on the canary (0 to 1), as last confirmed.
# TYPE bgctl_canary_weight_ratio gauge
bgctl_canary_weight_ratio{service="demo"} 0.1
# HELP bgctl_traffic_unknown 1 while the last traffic switch is not confirmed by nginx.
# TYPE bgctl_traffic_unknown gauge
bgctl_traffic_unknown{service="demo"} 0
# HELP bgctl_generation Number of the last traffic switch (the upstream file's generation).
# TYPE bgctl_generation gauge
bgctl_generation{service="demo"} 7
# HELP bgctl_step_index 0-based step of the rollout, -1 before its first step.
# TYPE bgctl_step_index gauge
bgctl_step_index{service="demo"} 0
# HELP bgctl_steps Number of steps of the rollout.
# TYPE bgctl_steps gauge
bgctl_steps{service="demo"} 3
# HELP bgctl_version_info 1 for the version in each slot that serves: role stable or canary.
# TYPE bgctl_version_info gauge
bgctl_version_info{service="demo",role="stable",slot="blue",version="v1"} 1
bgctl_version_info{service="demo",role="canary",slot="green",version="v2"} 1
# HELP bgctl_deploys_total Runs of deploy, promote and abort that ended, by outcome (from history.jsonl).
# TYPE bgctl_deploys_total counter
bgctl_deploys_total{service="demo",outcome="promoted"} 2
bgctl_deploys_total{service="demo",outcome="rolled_back"} 1
bgctl_deploys_total{service="demo",outcome="aborted"} 0
bgctl_deploys_total{service="demo",outcome="paused"} 1
bgctl_deploys_total{service="demo",outcome="interrupted"} 0
# HELP bgctl_rollbacks_total Rollbacks by reason: automatic ones by what the canary did, bgctl rollback as operator (from history.jsonl).
# TYPE bgctl_rollbacks_total counter
bgctl_rollbacks_total{service="demo",reason="analysis"} 1
bgctl_rollbacks_total{service="demo",reason="no_data"} 0
bgctl_rollbacks_total{service="demo",reason="health"} 0
bgctl_rollbacks_total{service="demo",reason="crash"} 0
bgctl_rollbacks_total{service="demo",reason="pre_traffic"} 0
bgctl_rollbacks_total{service="demo",reason="start"} 0
bgctl_rollbacks_total{service="demo",reason="switch"} 0
bgctl_rollbacks_total{service="demo",reason="operator"} 1
# HELP bgctl_last_deploy_timestamp_seconds Unix time at which the last bgctl deploy ended.
# TYPE bgctl_last_deploy_timestamp_seconds gauge
bgctl_last_deploy_timestamp_seconds{service="demo"} 1700000400.5
# HELP bgctl_last_promotion_timestamp_seconds Unix time at which the last version was promoted to stable.
# TYPE bgctl_last_promotion_timestamp_seconds gauge
bgctl_last_promotion_timestamp_seconds{service="demo"} 1700000200
# HELP bgctl_analysis_requests Requests seen in the step being judged (or its open window).
# TYPE bgctl_analysis_requests gauge
bgctl_analysis_requests{service="demo",slot="green",role="canary"} 120
bgctl_analysis_requests{service="demo",slot="blue",role="stable"} 1080
# HELP bgctl_analysis_errors_5xx 5xx answers among them.
# TYPE bgctl_analysis_errors_5xx gauge
bgctl_analysis_errors_5xx{service="demo",slot="green",role="canary"} 3
bgctl_analysis_errors_5xx{service="demo",slot="blue",role="stable"} 1
# HELP bgctl_analysis_p99_latency_seconds 99th percentile of their response times.
# TYPE bgctl_analysis_p99_latency_seconds gauge
bgctl_analysis_p99_latency_seconds{service="demo",slot="green",role="canary"} 0.0415
bgctl_analysis_p99_latency_seconds{service="demo",slot="blue",role="stable"} 0.012
)";

// The history behind kPausedMetrics: v1 promoted, v2 rolled back by the
// analysis, v3 promoted, an operator's rollback, v4 paused.
void WriteHistory(FileSystem* fs) {
  std::string err;
  for (const HistoryEntry& e :
       {Entry("deploy", "promoted", "", 1700000100000),
        Entry("deploy", "rolled_back", "analysis", 1700000150000),
        Entry("promote", "promoted", "", 1700000200000),
        Entry("rollback", "rolled_back", "operator", 1700000300000),
        Entry("deploy", "paused", "", 1700000400500)})
    REQUIRE(AppendHistory(fs, kHistoryPath, e, &err));
}

}  // namespace

TEST_CASE(
    "the metrics of a paused canary are the phase set, weight, "
    "generation, step, versions, history counters and both slots' "
    "figures",
    "[metrics]") {
  fake::FakeFileSystem fs;
  WriteHistory(&fs);
  HistoryCounts counts;
  std::string err;
  REQUIRE(CountHistory(&fs, kHistoryPath, &counts, &err));
  CHECK(RenderMetrics("demo", PausedCanary(), &counts, StepEvidence()) ==
        kPausedMetrics);
}

TEST_CASE(
    "before any deploy the counters are all 0 and there is no "
    "timestamp, no version and no analysis",
    "[metrics]") {
  fake::FakeFileSystem fs;
  HistoryCounts counts;
  std::string err;
  REQUIRE(CountHistory(&fs, kHistoryPath, &counts, &err));
  const std::string text = RenderMetrics("demo", State(), &counts, nullptr);
  CHECK(text.find("bgctl_phase{service=\"demo\",phase=\"idle\"} 1\n") !=
        std::string::npos);
  CHECK(text.find(
            "bgctl_deploys_total{service=\"demo\",outcome=\"promoted\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("timestamp") == std::string::npos);
  CHECK(text.find("bgctl_version_info{") == std::string::npos);
  CHECK(text.find("bgctl_analysis") == std::string::npos);
}

TEST_CASE(
    "an unknown outcome or reason counts as other and an unreadable "
    "history leaves the counters out",
    "[metrics]") {
  HistoryCounts counts;
  counts.Add(Entry("deploy", "rolled_back", "a reason from the future", 5000));
  counts.Add(Entry("deploy", "exploded", "", 6000));
  const std::string text = RenderMetrics("demo", State(), &counts, nullptr);
  CHECK(text.find("bgctl_rollbacks_total{service=\"demo\",reason=\"other\"} "
                  "1\n") != std::string::npos);
  CHECK(text.find("bgctl_deploys_total{service=\"demo\",outcome=\"other\"} "
                  "1\n") != std::string::npos);
  CHECK(
      text.find("bgctl_last_deploy_timestamp_seconds{service=\"demo\"} 6\n") !=
      std::string::npos);
  const std::string without = RenderMetrics("demo", State(), nullptr, nullptr);
  CHECK(without.find("_total") == std::string::npos);
  CHECK(without.find("timestamp") == std::string::npos);
}

TEST_CASE("a label value with a quote, a backslash or a newline is escaped",
          "[metrics]") {
  State s;
  s.stable_slot = "blue";
  s.blue.version = "a\"b\\c\nd";
  CHECK(RenderMetrics("demo", s, nullptr, nullptr)
            .find("version=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos);
}

TEST_CASE(
    "a deploy with metrics.textfile rewrites the file at every state "
    "save and ends with its promotion counted",
    "[metrics]") {
  World w;
  w.cfg.metrics.textfile = kTextfile;
  MetricsFile metrics(w.cfg, w.ctx.env, &w.reporter);
  w.ctx.metrics = &metrics;
  w.StartStable();
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  const std::vector<std::string> writes = w.fs.WritesTo(kTextfile);
  const size_t state_writes = w.fs.WritesTo(rollout_testing::kStatePath).size();
  const size_t analysis_writes = w.fs.WritesTo(AnalysisPath(w.cfg)).size();
  CHECK(analysis_writes > 0);
  // Every save of the state (StartStable's was without metrics), the history
  // line and every analysis update.
  CHECK(writes.size() == (state_writes - 1) + 1 + analysis_writes);
  const std::string last = w.fs.Contents(kTextfile);
  CHECK(last.find("bgctl_phase{service=\"demo\",phase=\"promoted\"} 1\n") !=
        std::string::npos);
  CHECK(last.find("bgctl_deploys_total{service=\"demo\",outcome=\"promoted\"} "
                  "1\n") != std::string::npos);
  CHECK(last.find("bgctl_version_info{service=\"demo\",role=\"stable\",slot="
                  "\"green\",version=\"v2\"} 1\n") != std::string::npos);
  CHECK(last.find("bgctl_analysis") == std::string::npos);
  // Some write in the middle showed the canary at 50% with its figures.
  bool at_fifty = false;
  for (const std::string& text : writes)
    at_fifty |=
        text.find("bgctl_canary_weight_ratio{service=\"demo\"} 0.5\n") !=
            std::string::npos &&
        text.find(
            "bgctl_analysis_requests{service=\"demo\",slot="
            "\"green\",role=\"canary\"}") != std::string::npos;
  CHECK(at_fifty);
}

TEST_CASE(
    "the counters of a new bgctl process start from history.jsonl "
    "and add what it appends",
    "[metrics]") {
  World w;
  WriteHistory(&w.fs);
  w.cfg.metrics.textfile = kTextfile;
  MetricsFile metrics(w.cfg, w.ctx.env, &w.reporter);
  w.ctx.metrics = &metrics;
  w.StartStable();
  std::string err;
  REQUIRE(w.Deploy("v5", &err) == kExitOk);
  const std::string last = w.fs.Contents(kTextfile);
  CHECK(last.find("bgctl_deploys_total{service=\"demo\",outcome=\"promoted\"} "
                  "3\n") != std::string::npos);
  CHECK(last.find("bgctl_rollbacks_total{service=\"demo\",reason=\"operator\"} "
                  "1\n") != std::string::npos);
}

TEST_CASE(
    "a metrics file that cannot be written is reported once and the "
    "deploy still succeeds",
    "[metrics]") {
  World w;
  w.cfg.metrics.textfile = kTextfile;
  w.fs.Fail(kTextfile, "Permission denied");
  MetricsFile metrics(w.cfg, w.ctx.env, &w.reporter);
  w.ctx.metrics = &metrics;
  w.StartStable();
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitOk);
  const std::string stderr_text = w.err.str();
  const std::string warning =
      "bgctl: cannot write the metrics file: cannot "
      "write " +
      kTextfile +
      ": Permission denied (reported once, not "
      "fatal)\n";
  CHECK(stderr_text == warning);
  CHECK(w.Saved().phase == Phase::kPromoted);
}

TEST_CASE(
    "the figures of an analysis written by an earlier bgctl are read "
    "from analysis.json of the same deploy",
    "[metrics]") {
  World w;
  w.cfg.metrics.textfile = kTextfile;
  std::string err;
  REQUIRE(WriteAnalysis(&w.fs, AnalysisPath(w.cfg), "demo", "d-5", 1,
                        StepEvidence(), &err));
  MetricsFile metrics(w.cfg, w.ctx.env, &w.reporter);
  metrics.StateSaved(PausedCanary());
  CHECK(w.fs.Contents(kTextfile).find(
            "bgctl_analysis_requests{service=\"demo\",slot=\"green\",role="
            "\"canary\"} 120\n") != std::string::npos);
  State other = PausedCanary();
  other.deploy_id = "d-6";
  metrics.StateSaved(other);
  CHECK(w.fs.Contents(kTextfile).find("bgctl_analysis") == std::string::npos);
}

TEST_CASE(
    "a canary that never gets healthy is recorded with reason kind "
    "health and counted as such a rollback",
    "[metrics]") {
  World w;
  w.cfg.metrics.textfile = kTextfile;
  w.cfg.backend.health.deadline_ms = 2000;
  MetricsFile metrics(w.cfg, w.ctx.env, &w.reporter);
  w.ctx.metrics = &metrics;
  w.StartStable();
  w.http.Statuses(rollout_testing::kGreen, "/healthz", {503});
  std::string err;
  REQUIRE(w.Deploy("v2", &err) == kExitRolledBack);
  REQUIRE(w.History().size() == 1);
  CHECK(w.History()[0].reason_kind == "health");
  const std::string last = w.fs.Contents(kTextfile);
  CHECK(last.find("bgctl_rollbacks_total{service=\"demo\",reason=\"health\"} "
                  "1\n") != std::string::npos);
  CHECK(last.find("bgctl_deploys_total{service=\"demo\",outcome=\"rolled_"
                  "back\"} 1\n") != std::string::npos);
  CHECK(last.find("bgctl_phase{service=\"demo\",phase=\"rolled_back\"} 1\n") !=
        std::string::npos);
  CHECK(last.find("bgctl_last_promotion_timestamp_seconds") ==
        std::string::npos);
}

}  // namespace bgctl
