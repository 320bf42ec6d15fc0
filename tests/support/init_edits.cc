#include "tests/support/init_edits.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "tests/support/temp_dir.h"

namespace bgctl::testing {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Replace(const std::string& file, const json& replace,
             std::vector<std::string>* lines, std::string* err) {
  const size_t at = replace["line"].get<size_t>();
  const std::string text = replace["text"], with = replace["with"];
  size_t pos = at >= 1 && at <= lines->size() ? (*lines)[at - 1].find(text)
                                              : std::string::npos;
  if (pos == std::string::npos) {
    *err = file + ":" + std::to_string(at) + ": no " + replace.dump();
    return false;
  }
  (*lines)[at - 1].replace(pos, text.size(), with);
  return true;
}

bool Apply(const std::string& file, const json& e,
           std::vector<std::string>* lines, std::string* err) {
  if (!e["replace"].is_null() && !Replace(file, e["replace"], lines, err))
    return false;
  const std::vector<std::string> add = e["add"];
  if (add.empty()) return true;
  const size_t after = e["line"].get<size_t>();
  if (after > lines->size() ||
      (after > 0 && (*lines)[after - 1].find('{') == std::string::npos)) {
    *err = file + ":" + std::to_string(after) + " does not open a block";
    return false;
  }
  lines->insert(lines->begin() + static_cast<long>(after), add.begin(),
                add.end());
  return true;
}

}  // namespace

bool ApplyInitEdits(const json& edits, std::string* err) {
  std::map<std::string, std::vector<json>> by_file;
  for (const json& e : edits) by_file[e["file"]].push_back(e);
  for (auto& [file, list] : by_file) {
    std::vector<std::string> lines = Lines(ReadWholeFile(file));
    std::stable_sort(list.begin(), list.end(),
                     [](const json& a, const json& b) {
                       return a["line"].get<int>() > b["line"].get<int>();
                     });
    for (const json& e : list)
      if (!Apply(file, e, &lines, err)) return false;
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    if (!WriteWholeFile(file, text)) {
      *err = "cannot write " + file;
      return false;
    }
  }
  return true;
}

}  // namespace bgctl::testing
