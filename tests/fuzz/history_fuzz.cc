// libFuzzer target: history.jsonl text through ReadHistory (on the one
// FakeFileSystem), then the table and JSON `history` prints. An entry that
// is read must append and read back as the same entry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/fake_env.h"
#include "controller/history.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bgctl::fake::FakeFileSystem fs;
  const std::string path = "/state/history.jsonl";
  fs.files[path] = std::string(reinterpret_cast<const char*>(data), size);
  std::vector<bgctl::HistoryEntry> entries;
  std::string err;
  int skipped = 0;
  if (!bgctl::ReadHistory(&fs, path, &entries, &err, &skipped)) std::abort();
  bgctl::HistoryText(entries);
  bgctl::HistoryJson(entries).dump(-1, ' ', false,
                                   nlohmann::json::error_handler_t::replace);
  if (entries.empty()) return 0;
  const std::string copy = "/state/copy.jsonl";
  for (const bgctl::HistoryEntry& e : entries)
    if (!bgctl::AppendHistory(&fs, copy, e, &err)) std::abort();
  std::vector<bgctl::HistoryEntry> again;
  if (!bgctl::ReadHistory(&fs, copy, &again, &err, &skipped) ||
      again.size() != entries.size())
    std::abort();
  return 0;
}
