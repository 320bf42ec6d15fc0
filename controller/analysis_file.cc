#include "controller/analysis_file.h"

#include <cstdio>

namespace bgctl {
namespace {

using nlohmann::json;

std::string Format(const char* format, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, a);
  return buf;
}

std::string SlotText(const json& slot) {
  if (!slot.is_object()) return "-";
  return std::to_string(slot.value("requests", int64_t{0})) + " req (" +
         Format("%.2f", 100 * slot.value("error_rate", 0.0)) + "% 5xx)";
}

std::string StepText(const json& step) {
  std::string text = "step " + std::to_string(step.value("index", -1) + 1) +
                     " at " + std::to_string(step.value("weight", 0)) + "%";
  if (step.contains("elapsed_ms"))
    text += Format(" for %.1f s", step.value("elapsed_ms", int64_t{0}) / 1e3);
  if (step.contains("decision"))
    text += " (" + step.value("decision", std::string()) + ")";
  return text + ": canary " + SlotText(step.value("canary", json())) +
         ", stable " + SlotText(step.value("stable", json()));
}

// "errors vs stable 0.42, error rate 0.01, ..." and the common bound.
std::string TestsText(const json& step, const char* sep, bool names) {
  std::string out;
  if (!step.contains("tests") || !step["tests"].is_array()) return out;
  for (const json& t : step["tests"]) {
    std::string name = t.value("name", std::string());
    if (!names)
      for (char& c : name)
        if (c == '_') c = ' ';
    if (!out.empty()) out += sep;
    out +=
        name + (names ? "=" : " ") + Format("%.3g", t.value("evidence", 0.0));
    if (names) out += Format("/%.3g", t.value("bound", 0.0));
  }
  return out;
}

std::string LastDecision(const json& doc) {
  if (!doc.contains("decisions") || !doc["decisions"].is_array() ||
      doc["decisions"].empty())
    return "";
  const json& d = doc["decisions"].back();
  return "step " + std::to_string(d.value("step", -1) + 1) + " at " +
         std::to_string(d.value("weight", 0)) +
         "%: " + d.value("decision", std::string()) + " (" +
         d.value("reason", std::string()) + ")";
}

std::string AnalysisTextOrThrow(const json& doc);
std::string AnalysisOneLineOrThrow(const json& doc);

}  // namespace

const json* AnalysisStep(const json& doc) {
  if (!doc.is_object()) return nullptr;
  if (doc.contains("step") && doc["step"].is_object()) return &doc["step"];
  if (doc.contains("steps") && doc["steps"].is_array() && !doc["steps"].empty())
    return &doc["steps"].back();
  return nullptr;
}

std::string AnalysisPath(const Config& config) {
  return config.state_dir + "/analysis.json";
}

bool WriteAnalysis(FileSystem* fs, const std::string& path,
                   const std::string& service, const std::string& deploy_id,
                   int64_t wall_ms, const json& evidence, std::string* err) {
  json doc = evidence.is_object() ? evidence : json::object();
  doc["version"] = kAnalysisFileVersion;
  doc["service"] = service;
  doc["deploy_id"] = deploy_id;
  doc["updated_at_ms"] = wall_ms;
  return fs->WriteFileAtomic(
      path, doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n", err,
      0644);
}

json ReadAnalysisOfDeploy(FileSystem* fs, const std::string& path,
                          const std::string& deploy_id) {
  std::string text, err;
  if (deploy_id.empty() || !fs->ReadFile(path, &text, &err)) return nullptr;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return nullptr;
  const json& version = doc["version"];
  const json& id = doc["deploy_id"];
  if (!version.is_number_integer() || version != kAnalysisFileVersion ||
      !id.is_string() || id != deploy_id)
    return nullptr;
  return doc;
}

std::string AnalysisText(const json& doc) {
  try {
    return AnalysisTextOrThrow(doc);
  } catch (const json::exception&) {
    return "  analysis: unreadable\n";
  }
}

std::string AnalysisOneLine(const json& doc) {
  try {
    return AnalysisOneLineOrThrow(doc);
  } catch (const json::exception&) {
    return "analysis=unreadable";
  }
}

namespace {

std::string AnalysisTextOrThrow(const json& doc) {
  if (!doc.is_object()) return "";
  const std::string method = doc.value("method", std::string("?"));
  std::string out = "  analysis: " + method;
  if (doc.contains("alpha"))
    out += Format(", alpha %g", doc.value("alpha", 0.0));
  const json* step = AnalysisStep(doc);
  if (step != nullptr) out += "; " + StepText(*step);
  out += "\n";
  if (step != nullptr && step->contains("tests") && !(*step)["tests"].empty()) {
    out += "  evidence (reject at " +
           Format("%.3g", (*step)["tests"][0].value("bound", 0.0)) +
           "): " + TestsText(*step, ", ", false) + "\n";
  }
  if (doc.contains("failed_windows"))
    out +=
        "  failed windows: " + std::to_string(doc.value("failed_windows", 0)) +
        "\n";
  const std::string last = LastDecision(doc);
  if (!last.empty()) out += "  last decision: " + last + "\n";
  return out;
}

std::string AnalysisOneLineOrThrow(const json& doc) {
  if (!doc.is_object()) return "";
  std::string out = "analysis=" + doc.value("method", std::string("?"));
  const json* step = AnalysisStep(doc);
  if (step != nullptr) {
    out += " step=" + std::to_string(step->value("index", -1) + 1) + "@" +
           std::to_string(step->value("weight", 0)) + "%";
    const std::string tests = TestsText(*step, " ", true);
    if (!tests.empty()) out += " " + tests;
  }
  if (doc.contains("failed_windows"))
    out += " failed_windows=" + std::to_string(doc.value("failed_windows", 0));
  if (doc.contains("decisions") && doc["decisions"].is_array() &&
      !doc["decisions"].empty())
    out += " last=" + doc["decisions"].back().value("decision", std::string());
  return out;
}

}  // namespace
}  // namespace bgctl
