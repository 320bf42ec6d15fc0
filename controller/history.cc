#include "controller/history.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "controller/state.h"

namespace bgctl {

using nlohmann::json;

json HistoryEntryToJson(const HistoryEntry& e) {
  return {{"id", e.id},
          {"command", e.command},
          {"version", e.version},
          {"from_version", e.from_version},
          {"outcome", e.outcome},
          {"reason", e.reason},
          {"reason_kind", e.reason_kind},
          {"started_ms", e.started_ms},
          {"ended_ms", e.ended_ms},
          {"ends", e.ends},
          {"steps_reached", e.steps_reached},
          {"steps_total", e.steps_total}};
}

namespace {

// Copies j[name] into *out if present; false if present with another type.
template <typename T>
bool Take(const json& j, const char* name, bool required, T* out,
          std::string* err) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (required) *err = "missing field \"" + std::string(name) + "\"";
    return !required;
  }
  bool ok = std::is_same_v<T, std::string> ? it->is_string()
                                           : it->is_number_integer();
  if (!ok) {
    *err = "field \"" + std::string(name) + "\" has the wrong type";
    return false;
  }
  *out = it->get<T>();
  return true;
}

}  // namespace

bool HistoryEntryFromJson(const json& j, HistoryEntry* out, std::string* err) {
  if (!j.is_object()) {
    *err = "expected a JSON object";
    return false;
  }
  HistoryEntry e;
  if (!Take(j, "id", true, &e.id, err) ||
      !Take(j, "command", true, &e.command, err) ||
      !Take(j, "outcome", true, &e.outcome, err) ||
      !Take(j, "version", false, &e.version, err) ||
      !Take(j, "from_version", false, &e.from_version, err) ||
      !Take(j, "reason", false, &e.reason, err) ||
      !Take(j, "reason_kind", false, &e.reason_kind, err) ||
      !Take(j, "ends", false, &e.ends, err) ||
      !Take(j, "started_ms", false, &e.started_ms, err) ||
      !Take(j, "ended_ms", false, &e.ended_ms, err) ||
      !Take(j, "steps_reached", false, &e.steps_reached, err) ||
      !Take(j, "steps_total", false, &e.steps_total, err))
    return false;
  *out = std::move(e);
  return true;
}

std::string HistoryPath(const Config& config) {
  return config.state_dir + "/history.jsonl";
}

bool AppendHistory(FileSystem* fs, const std::string& path,
                   const HistoryEntry& entry, std::string* err) {
  // dump() escapes newlines inside strings, so the line is one line.
  return fs->AppendLine(path,
                        HistoryEntryToJson(entry).dump(
                            -1, ' ', false, json::error_handler_t::replace) +
                            "\n",
                        err);
}

bool ReadHistory(FileSystem* fs, const std::string& path,
                 std::vector<HistoryEntry>* entries, std::string* err,
                 int* skipped) {
  entries->clear();
  if (skipped) *skipped = 0;
  if (!fs->Exists(path)) return true;
  std::string text;
  if (!fs->ReadFile(path, &text, err)) return false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    HistoryEntry e;
    std::string problem;
    if (!j.is_discarded() && HistoryEntryFromJson(j, &e, &problem)) {
      entries->push_back(std::move(e));
    } else if (skipped) {
      ++*skipped;
    }
  }
  return true;
}

std::string FormatElapsed(int64_t ms) {
  char buf[32];
  if (ms < 0) ms = 0;
  if (ms < 1000) {
    snprintf(buf, sizeof(buf), "%lldms", static_cast<long long>(ms));
  } else if (ms < 60 * 1000) {
    snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000);
  } else if (ms < 3600 * 1000) {
    long long s = ms / 1000;
    snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  } else {
    long long m = ms / 60000;
    snprintf(buf, sizeof(buf), "%lldh%02lldm", m / 60, m % 60);
  }
  return buf;
}

namespace {

std::string Duration(const HistoryEntry& e) {
  if (e.ended_ms == 0 || e.started_ms == 0) return "-";
  return FormatElapsed(e.ended_ms - e.started_ms);
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

std::string HistoryText(const std::vector<HistoryEntry>& entries) {
  if (entries.empty()) return "no deploys yet\n";
  std::vector<std::vector<std::string>> rows = {
      {"STARTED (UTC)", "ID", "COMMAND", "VERSION", "FROM", "OUTCOME", "STEPS",
       "DURATION", "REASON"}};
  for (const HistoryEntry& e : entries) {
    rows.push_back(
        {e.started_ms ? FormatUtc(e.started_ms) : "-", OrDash(e.id),
         OrDash(e.command), OrDash(e.version), OrDash(e.from_version),
         OrDash(e.outcome),
         std::to_string(e.steps_reached) + "/" + std::to_string(e.steps_total),
         Duration(e), e.reason});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

json HistoryJson(const std::vector<HistoryEntry>& entries) {
  json out = json::array();
  for (const HistoryEntry& e : entries) {
    json j = HistoryEntryToJson(e);
    j["started_at"] = e.started_ms ? json(FormatUtc(e.started_ms)) : json();
    j["ended_at"] = e.ended_ms ? json(FormatUtc(e.ended_ms)) : json();
    j["duration_ms"] =
        (e.ended_ms && e.started_ms) ? json(e.ended_ms - e.started_ms) : json();
    out.push_back(j);
  }
  return out;
}

}  // namespace bgctl
