// Prometheus metrics in the text exposition format (version 0.0.4), written
// to `metrics.textfile` for node_exporter's textfile collector, which reads
// only files ending in .prom from its folder. The file is rewritten
// atomically (FileSystem::WriteFileAtomic: an exclusive temporary file in the
// same folder, renamed over it) whenever state.json is saved, a history line
// is appended, or the analysis evidence is written, so a scrape sees the last
// complete version. Every series has the label service="NAME":
//
//   bgctl_phase{phase}              gauge  1 for the current phase, 0 for the
//                                          six others (a state set)
//   bgctl_canary_weight_ratio       gauge  share of traffic on the canary, 0-1
//   bgctl_traffic_unknown           gauge  1 while the last switch is not
//                                          confirmed
//   bgctl_generation                gauge  number of the last traffic switch
//   bgctl_step_index                gauge  0-based step of the rollout, -1
//                                          before its first step
//   bgctl_steps                gauge  steps of the rollout
//   bgctl_version_info{role,slot,version}  gauge  1 for the stable and the
//                                          canary version
//   bgctl_deploys_total{outcome}    counter runs of deploy, promote and abort
//                                          by outcome (from history.jsonl)
//   bgctl_rollbacks_total{reason}   counter rollbacks by reason kind (from
//                                          history.jsonl; `bgctl rollback`
//                                          counts as reason "operator")
//   bgctl_last_deploy_timestamp_seconds     gauge  end of the last deploy
//   bgctl_last_promotion_timestamp_seconds  gauge  end of the last promotion
//   bgctl_analysis_requests{slot,role}      gauge  requests in the step being
//   bgctl_analysis_errors_5xx{slot,role}    gauge  judged (or its open
//   bgctl_analysis_p99_latency_seconds{slot,role}  gauge  window), while a
//                                          rollout is under way
#ifndef BGCTL_CONTROLLER_METRICS_H_
#define BGCTL_CONTROLLER_METRICS_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/history.h"
#include "controller/output.h"
#include "controller/state.h"

namespace bgctl {

// What history.jsonl says, counted; only known label values are kept (any
// other outcome or reason counts as "other"), so the series stay few.
struct HistoryCounts {
  std::map<std::string, int64_t> deploys;    // by outcome
  std::map<std::string, int64_t> rollbacks;  // by reason kind
  int64_t last_deploy_ms = 0;                // wall clock; 0: no deploy yet
  int64_t last_promotion_ms = 0;             // wall clock; 0: no promotion yet

  void Add(const HistoryEntry& entry);
};

// Counts the history file in one pass (ReadHistory). A missing file counts
// nothing; false with *err when it exists but cannot be read.
bool CountHistory(FileSystem* fs, const std::string& path,
                  HistoryCounts* counts, std::string* err);

// The whole file: HELP and TYPE lines, then the samples of each family.
// `counts` null: the history could not be read, and the counters and
// timestamps are left out rather than shown as a reset. `analysis` is a
// judge's evidence (or analysis.json) of the rollout under way, or null.
std::string RenderMetrics(const std::string& service, const State& state,
                          const HistoryCounts* counts,
                          const nlohmann::json& analysis);

// Keeps metrics.textfile current for one bgctl process. Reads history.jsonl
// once (at the first event), then counts each appended entry, and reads
// analysis.json once per deploy id. A failed write never fails a command:
// it is reported once through `out` as not fatal, and later writes retry.
class MetricsFile {
 public:
  // Nothing is owned; all must outlive the MetricsFile.
  MetricsFile(const Config& config, Env env, Reporter* out);

  // state.json was saved with `state`.
  void StateSaved(const State& state);
  // `entry` was appended to history.jsonl.
  void HistoryAppended(const HistoryEntry& entry);
  // The analysis evidence of the rollout `deploy_id` was written.
  void AnalysisWritten(const std::string& deploy_id,
                       const nlohmann::json& evidence);

 private:
  void LoadHistory();
  void Write();

  const Config& config_;
  Env env_;
  Reporter* out_;
  bool have_state_ = false;
  State state_;
  bool history_loaded_ = false, history_ok_ = false;
  HistoryCounts counts_;
  bool analysis_loaded_ = false;
  std::string analysis_deploy_;
  nlohmann::json analysis_;
  bool warned_ = false;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_METRICS_H_
