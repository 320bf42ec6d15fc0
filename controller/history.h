// state_dir/history.jsonl: one JSON object per deploy, rollback, abort or
// promote, appended with one write so concurrent writers never interleave.
#ifndef BGCTL_CONTROLLER_HISTORY_H_
#define BGCTL_CONTROLLER_HISTORY_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"

namespace bgctl {

struct HistoryEntry {
  std::string id;            // deploy id
  std::string command;       // deploy | rollback | abort | promote
  std::string version;       // the version being deployed / returned to
  std::string from_version;  // the stable version before
  // promoted | rolled_back | aborted | failed | paused | interrupted
  std::string outcome;
  std::string reason;  // why it was rolled back / aborted / failed
  // The kind of `reason`, one word from a fixed set, for counting
  // (metrics.h): analysis | no_data | health | crash | pre_traffic | start |
  // switch | stop_signal | state | drain | operator | interrupted; "" when
  // the entry has no reason (and in lines written before bgctl recorded it).
  std::string reason_kind;
  std::string ends;        // abort, interrupted: the id of the deploy it ended
  int64_t started_ms = 0;  // wall clock
  int64_t ended_ms = 0;    // wall clock; 0 if it never ended
  int steps_reached = 0;
  int steps_total = 0;
};

nlohmann::json HistoryEntryToJson(const HistoryEntry& entry);
// False with *err naming the bad field. Unknown fields are ignored; only
// "id", "command" and "outcome" are required.
bool HistoryEntryFromJson(const nlohmann::json& j, HistoryEntry* entry,
                          std::string* err);

// state_dir + "/history.jsonl".
std::string HistoryPath(const Config& config);

// Appends `entry` as one line to `path` (FileSystem::AppendLine).
bool AppendHistory(FileSystem* fs, const std::string& path,
                   const HistoryEntry& entry, std::string* err);

// Reads all entries, oldest first. A missing file is an empty history. A
// malformed line is skipped and counted in *skipped (if not null). Returns
// false only when the file exists but cannot be read.
bool ReadHistory(FileSystem* fs, const std::string& path,
                 std::vector<HistoryEntry>* entries, std::string* err,
                 int* skipped = nullptr);

// A table, one row per entry, with UTC ISO-8601 start times and durations;
// "no deploys yet\n" when empty.
std::string HistoryText(const std::vector<HistoryEntry>& entries);

// A JSON array of the entries (HistoryEntryToJson plus "started_at",
// "ended_at" as UTC ISO-8601 or null, and "duration_ms" or null).
nlohmann::json HistoryJson(const std::vector<HistoryEntry>& entries);

// A duration for humans: "850ms", "12.3s", "4m05s", "2h03m".
std::string FormatElapsed(int64_t ms);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_HISTORY_H_
