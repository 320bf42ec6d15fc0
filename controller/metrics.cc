#include "controller/metrics.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "controller/analysis_file.h"

namespace bgctl {
namespace {

using nlohmann::json;

// Label values written even at 0, so rate() and increase() see each series
// from its first scrape.
const std::vector<std::string>& DeployOutcomes() {
  static const std::vector<std::string> v = {
      "promoted", "rolled_back", "aborted", "paused", "interrupted"};
  return v;
}

const std::vector<std::string>& RollbackReasons() {
  static const std::vector<std::string> v = {
      "analysis",    "no_data", "health", "crash",
      "pre_traffic", "start",   "switch", "operator"};
  return v;
}

const std::string& Known(const std::vector<std::string>& known,
                         const std::string& value) {
  static const std::string other = "other";
  for (const std::string& k : known)
    if (k == value) return k;
  return other;
}

// A label value as the text format wants it: \\, \" and \n escaped.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Integers as integers, other values with 15 significant digits (enough for
// a wall-clock time in seconds with milliseconds).
std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

class Writer {
 public:
  explicit Writer(const std::string& service) : service_(Escape(service)) {}

  void Family(const std::string& name, const char* type, const char* help) {
    text_ +=
        "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    name_ = name;
  }
  // One sample of the current family; `labels` as `a="x",b="y"` (escaped).
  void Sample(double value, const std::string& labels = "") {
    text_ += name_ + "{service=\"" + service_ + "\"" +
             (labels.empty() ? "" : "," + labels) + "} " + Number(value) + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string service_, name_, text_;
};

std::string Label(const std::string& name, const std::string& value) {
  return name + "=\"" + Escape(value) + "\"";
}

void StateFamilies(const State& state, Writer* w) {
  w->Family("bgctl_phase", "gauge",
            "Rollout phase of the service: 1 for the current phase, 0 for the "
            "others.");
  for (int p = static_cast<int>(Phase::kIdle);
       p <= static_cast<int>(Phase::kInterrupted); ++p) {
    const Phase phase = static_cast<Phase>(p);
    w->Sample(phase == state.phase ? 1 : 0, Label("phase", PhaseName(phase)));
  }
  w->Family("bgctl_canary_weight_ratio", "gauge",
            "Share of the traffic on the canary (0 to 1), as last confirmed.");
  w->Sample(state.canary_slot.empty() ? 0 : state.canary_weight / 100.0);
  w->Family("bgctl_traffic_unknown", "gauge",
            "1 while the last traffic switch is not confirmed by nginx.");
  w->Sample(state.traffic_unknown ? 1 : 0);
  w->Family("bgctl_generation", "gauge",
            "Number of the last traffic switch (the upstream file's "
            "generation).");
  w->Sample(static_cast<double>(state.generation));
  w->Family("bgctl_step_index", "gauge",
            "0-based step of the rollout, -1 before its first step.");
  w->Sample(state.step_index);
  w->Family("bgctl_steps", "gauge", "Number of steps of the rollout.");
  w->Sample(state.step_count);
  w->Family("bgctl_version_info", "gauge",
            "1 for the version in each slot that serves: role stable or "
            "canary.");
  for (const std::string role : {"stable", "canary"}) {
    const std::string& slot =
        role == "stable" ? state.stable_slot : state.canary_slot;
    if (slot.empty()) continue;
    w->Sample(1, Label("role", role) + "," + Label("slot", slot) + "," +
                     Label("version", state.Slot(slot).version));
  }
}

// Every known label value (0 when never seen), then "other" if counted.
void Counts(const std::map<std::string, int64_t>& counts,
            const std::vector<std::string>& known, const char* label,
            Writer* w) {
  auto count = [&](const std::string& value) {
    auto it = counts.find(value);
    return static_cast<double>(it == counts.end() ? 0 : it->second);
  };
  for (const std::string& value : known)
    w->Sample(count(value), Label(label, value));
  if (counts.count("other")) w->Sample(count("other"), Label(label, "other"));
}

void HistoryFamilies(const HistoryCounts& counts, Writer* w) {
  w->Family("bgctl_deploys_total", "counter",
            "Runs of deploy, promote and abort that ended, by outcome (from "
            "history.jsonl).");
  Counts(counts.deploys, DeployOutcomes(), "outcome", w);
  w->Family("bgctl_rollbacks_total", "counter",
            "Rollbacks by reason: automatic ones by what the canary did, "
            "bgctl rollback as operator (from history.jsonl).");
  Counts(counts.rollbacks, RollbackReasons(), "reason", w);
  if (counts.last_deploy_ms > 0) {
    w->Family("bgctl_last_deploy_timestamp_seconds", "gauge",
              "Unix time at which the last bgctl deploy ended.");
    w->Sample(counts.last_deploy_ms / 1000.0);
  }
  if (counts.last_promotion_ms > 0) {
    w->Family("bgctl_last_promotion_timestamp_seconds", "gauge",
              "Unix time at which the last version was promoted to stable.");
    w->Sample(counts.last_promotion_ms / 1000.0);
  }
}

// The step being judged, per slot, while a rollout is under way.
void AnalysisFamilies(const State& state, const json& analysis, Writer* w) {
  const json* step = AnalysisStep(analysis);
  if (state.canary_slot.empty() || !step) return;
  struct Side {
    std::string labels;
    json stats;
  };
  std::vector<Side> sides;
  for (const std::string role : {"canary", "stable"}) {
    const std::string& slot =
        role == "canary" ? state.canary_slot : state.stable_slot;
    const json stats = step->value(role, json());
    if (slot.empty() || !stats.is_object()) continue;
    sides.push_back({Label("slot", slot) + "," + Label("role", role), stats});
  }
  auto figure = [](const json& stats, const char* key) {
    const json& v = stats.value(key, json());
    return v.is_number() ? v.get<double>() : 0.0;
  };
  w->Family("bgctl_analysis_requests", "gauge",
            "Requests seen in the step being judged (or its open window).");
  for (const Side& s : sides) w->Sample(figure(s.stats, "requests"), s.labels);
  w->Family("bgctl_analysis_errors_5xx", "gauge", "5xx answers among them.");
  for (const Side& s : sides)
    w->Sample(figure(s.stats, "errors_5xx"), s.labels);
  w->Family("bgctl_analysis_p99_latency_seconds", "gauge",
            "99th percentile of their response times.");
  for (const Side& s : sides)
    w->Sample(figure(s.stats, "p99_ms") / 1000.0, s.labels);
}

}  // namespace

void HistoryCounts::Add(const HistoryEntry& e) {
  const bool rollout = e.command == "deploy" || e.command == "abort" ||
                       e.command.rfind("promote", 0) == 0;
  if (rollout) deploys[Known(DeployOutcomes(), e.outcome)]++;
  if (e.outcome == "rolled_back")
    rollbacks[Known(RollbackReasons(), e.reason_kind)]++;
  const int64_t at = e.ended_ms ? e.ended_ms : e.started_ms;
  if (e.command == "deploy") last_deploy_ms = std::max(last_deploy_ms, at);
  if (e.outcome == "promoted")
    last_promotion_ms = std::max(last_promotion_ms, at);
}

bool CountHistory(FileSystem* fs, const std::string& path,
                  HistoryCounts* counts, std::string* err) {
  std::vector<HistoryEntry> entries;
  if (!ReadHistory(fs, path, &entries, err)) return false;
  *counts = HistoryCounts();
  for (const HistoryEntry& e : entries) counts->Add(e);
  return true;
}

std::string RenderMetrics(const std::string& service, const State& state,
                          const HistoryCounts* counts, const json& analysis) {
  Writer w(service);
  StateFamilies(state, &w);
  if (counts) HistoryFamilies(*counts, &w);
  AnalysisFamilies(state, analysis, &w);
  return w.text();
}

MetricsFile::MetricsFile(const Config& config, Env env, Reporter* out)
    : config_(config), env_(env), out_(out) {}

void MetricsFile::LoadHistory() {
  if (history_loaded_) return;
  history_loaded_ = true;
  std::string err;
  history_ok_ = CountHistory(env_.fs, HistoryPath(config_), &counts_, &err);
  if (!history_ok_) {
    out_->Error("metrics: " + err +
                "; the deploy and rollback counters are left out (reported, "
                "not fatal)");
  }
}

void MetricsFile::StateSaved(const State& state) {
  LoadHistory();
  state_ = state;
  have_state_ = true;
  Write();
}

void MetricsFile::HistoryAppended(const HistoryEntry& entry) {
  if (history_loaded_) {
    counts_.Add(entry);
  } else {
    LoadHistory();  // the file holds `entry` already
  }
  Write();
}

void MetricsFile::AnalysisWritten(const std::string& deploy_id,
                                  const json& evidence) {
  analysis_loaded_ = true;
  analysis_deploy_ = deploy_id;
  analysis_ = evidence;
  Write();
}

void MetricsFile::Write() {
  if (!have_state_) return;  // nothing true to say yet
  if (!analysis_loaded_ || analysis_deploy_ != state_.deploy_id) {
    analysis_loaded_ = true;
    analysis_deploy_ = state_.deploy_id;
    analysis_ =
        ReadAnalysisOfDeploy(env_.fs, AnalysisPath(config_), state_.deploy_id);
  }
  const std::string text = RenderMetrics(
      config_.service, state_, history_ok_ ? &counts_ : nullptr, analysis_);
  std::string err;
  if (env_.fs->WriteFileAtomic(config_.metrics.textfile, text, &err, 0644) ||
      warned_)
    return;
  warned_ = true;
  out_->Error("cannot write the metrics file: " + err +
              " (reported once, not fatal)");
}

}  // namespace bgctl
