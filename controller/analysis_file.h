// state_dir/analysis.json: the running evidence of a rollout's judge
// (judge.h), written by the bgctl process that drives the rollout
// (atomically, at most every 500 ms and at every decision) and read by
// `status`, `status --watch`, a `promote` that continues the rollout, and
// metrics exporters. A stable document, version 1:
//
//   {"version": 1, "service": "demo", "deploy_id": "d-1763934000123",
//    "updated_at_ms": 1763934012345,          // wall clock of the write
//    "method": "sequential" | "windows",
//    "step": STEP | null,                     // the step being judged now
//    "decisions": [{"step": 0, "weight": 10,  // every decision so far
//                   "decision": "pass" | "no_data" | "reject",
//                   "reason": "...", "after_ms": 30012}],
//    ... members of the method, below}
//
// STEP has at least {"index", "weight", "in_progress", "canary", "stable"}
// where canary and stable are SlotStats::ToJson() of the step so far
// (windows: of the open window).
//
// sequential adds: "alpha", "error_margin" {"relative", "absolute"},
// "latency_margin" {"relative", "absolute_ms"}, "steps" (every finished
// step: a STEP with "decision" and "reason"), "budget" {TEST: {"alpha",
// "spent", "log_wealth" (null: nothing left)}} and "malformed_lines"; its
// STEP adds "elapsed_ms", "no_upstream", "other_upstream", "canary_share",
// "latency_threshold_ms", "unjudged_latencies", "cpu_percent" and "tests":
// [{"name": "errors_vs_stable" | "error_rate" | "latency_vs_stable" |
// "p99_limit", "alpha", "bound", "evidence" (reject at evidence >= bound),
// "log_bf", "null", "successes", "trials", "observed", "step_weight",
// "spent", "crossed", "crossed_after_ms", "crossed_canary_requests",
// "summary"}].
//
// windows adds the members of WindowAnalyzer::ToJson() ("windows",
// "failed_windows", ...).
#ifndef BGCTL_CONTROLLER_ANALYSIS_FILE_H_
#define BGCTL_CONTROLLER_ANALYSIS_FILE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

constexpr int kAnalysisFileVersion = 1;

// state_dir + "/analysis.json".
std::string AnalysisPath(const Config& config);

// Writes `evidence` (a judge's EvidenceJson()) with the version, service,
// deploy id and wall-clock time, atomically.
bool WriteAnalysis(FileSystem* fs, const std::string& path,
                   const std::string& service, const std::string& deploy_id,
                   int64_t wall_ms, const nlohmann::json& evidence,
                   std::string* err);

// The document if it exists, parses, has version 1 and belongs to
// `deploy_id`; null otherwise (missing, corrupt, or another deploy's).
nlohmann::json ReadAnalysisOfDeploy(FileSystem* fs, const std::string& path,
                                    const std::string& deploy_id);

// The STEP of `doc` (an analysis document or a judge's EvidenceJson()): the
// step being judged, or else the last one judged; null when there is none.
const nlohmann::json* AnalysisStep(const nlohmann::json& doc);

// For humans: a few lines, each starting with two spaces and ending in
// '\n' ("" for null): the method, the step, every test's evidence against
// its bound (or the open window), and the last decision.
std::string AnalysisText(const nlohmann::json& doc);

// The same on one line without a newline, for `status --watch` in a log.
std::string AnalysisOneLine(const nlohmann::json& doc);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ANALYSIS_FILE_H_
