// The YAML walker under bgctl.yaml's schema (config.cc): maps whose keys are
// checked against the allowed ones, and typed reads of their values, each
// failing with "FILE:LINE: KEY: problem". yaml-cpp's exceptions are caught
// by ParseConfig (config.cc), the one caller of YAML::Load.
#ifndef BGCTL_CONTROLLER_CONFIG_YAML_H_
#define BGCTL_CONTROLLER_CONFIG_YAML_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bgctl {

// Parses a whole string as a decimal integer (no spaces, no sign games).
bool ParseInt(const std::string& s, long long* out);
// Parses a whole string as a finite number.
bool ParseNumber(const std::string& s, double* out);
// "%g".
std::string FormatNumber(double v);

// One key of a YAML map with its value.
struct YamlField {
  YAML::Node key;
  YAML::Node value;
};

// A YAML map whose keys were checked against the allowed ones.
struct YamlSection {
  std::string name;  // dotted path, "" at the top level
  int line = 1;      // 1-based line of the map (or of its key)
  std::map<std::string, YamlField> fields;

  std::string Key(const std::string& k) const {
    return name.empty() ? k : name + "." + k;
  }
  const YamlField* Find(const std::string& k) const {
    auto it = fields.find(k);
    return it == fields.end() ? nullptr : &it->second;
  }
};

// The 1-based line of `node`, or `fallback` when it has none.
int LineOf(const YAML::Node& node, int fallback);

// Walks the YAML tree; the first problem ends the walk with *err set. Every
// reader returns false on a problem (and then *err is set); an optional key
// that is absent leaves *out alone and returns true.
class YamlParser {
 public:
  YamlParser(const std::string& path, std::string* err)
      : path_(path), err_(err) {}

  // Sets *err to "PATH:LINE: KEY: problem" (no "KEY: " when key is empty).
  bool Fail(int line, const std::string& key, const std::string& problem);

  // The line of a field's value; a null value's mark points past it.
  int ValueLine(const YamlField& f) const;

  // Reads `node` (a map, or null meaning an empty map) into *out, rejecting
  // keys outside `allowed` and duplicate keys.
  bool Open(const YAML::Node& node, int line, const std::string& name,
            const std::set<std::string>& allowed, YamlSection* out);

  // Opens the map under `key` of `parent`; a missing optional map is empty.
  bool Sub(const YamlSection& parent, const std::string& key, bool required,
           const std::set<std::string>& allowed, YamlSection* out);

  // A non-empty string.
  bool String(const YamlSection& s, const std::string& key, bool required,
              std::string* out);
  // One of `choices` (reported as "expected a or b, got \"x\"").
  bool Choice(const YamlSection& s, const std::string& key,
              const std::vector<std::string>& choices, std::string* out);
  // An integer in [min, max].
  bool Int(const YamlSection& s, const std::string& key, bool required, int min,
           int max, int* out);
  // A number in [min, max]; with `min_exclusive` it must exceed min.
  bool Number(const YamlSection& s, const std::string& key, double min,
              double max, bool min_exclusive, double* out);
  // An optional duration; with `positive` zero is rejected.
  bool Duration(const YamlSection& s, const std::string& key, bool positive,
                int64_t* out);
  // An optional true/false.
  bool Bool(const YamlSection& s, const std::string& key, bool* out);
  // A list of strings; a required list must not be empty.
  bool Argv(const YamlSection& s, const std::string& key, bool required,
            std::vector<std::string>* out);

 private:
  // Finds `key`; nullptr when absent (then, if required, *err is set and
  // *failed is true).
  const YamlField* Get(const YamlSection& s, const std::string& key,
                       bool required, bool* failed);

  std::string path_;
  std::string* err_;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_CONFIG_YAML_H_
