#include "controller/config_yaml.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "controller/duration.h"

namespace bgctl {

bool ParseInt(const std::string& s, long long* out) {
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) ||
                     s[0] == '-' || s[0] == '+'))
    return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool ParseNumber(const std::string& s, double* out) {
  if (s.empty() || isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string FormatNumber(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

int LineOf(const YAML::Node& node, int fallback) {
  int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

bool YamlParser::Fail(int line, const std::string& key,
                      const std::string& problem) {
  *err_ = path_ + ":" + std::to_string(line) + ": " +
          (key.empty() ? "" : key + ": ") + problem;
  return false;
}

int YamlParser::ValueLine(const YamlField& f) const {
  int key_line = LineOf(f.key, 1);
  return f.value.IsNull() ? key_line : LineOf(f.value, key_line);
}

bool YamlParser::Open(const YAML::Node& node, int line, const std::string& name,
                      const std::set<std::string>& allowed, YamlSection* out) {
  out->name = name;
  out->line = LineOf(node, line);
  out->fields.clear();
  if (node.IsNull()) return true;
  if (!node.IsMap()) return Fail(out->line, name, "expected a map");
  for (auto it = node.begin(); it != node.end(); ++it) {
    int key_line = LineOf(it->first, out->line);
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (!it->first.IsScalar() || !allowed.count(key))
      return Fail(key_line, out->Key(key), "unknown key");
    if (out->fields.count(key))
      return Fail(key_line, out->Key(key), "duplicate key");
    out->fields[key] = YamlField{it->first, it->second};
  }
  return true;
}

bool YamlParser::Sub(const YamlSection& parent, const std::string& key,
                     bool required, const std::set<std::string>& allowed,
                     YamlSection* out) {
  const YamlField* f = parent.Find(key);
  if (!f) {
    if (required)
      return Fail(parent.line, parent.Key(key), "missing required key");
    out->name = parent.Key(key);
    out->line = parent.line;
    out->fields.clear();
    return true;
  }
  int key_line = LineOf(f->key, parent.line);
  if (!Open(f->value, key_line, parent.Key(key), allowed, out)) return false;
  out->line = key_line;  // a missing key is reported at "key:"
  return true;
}

const YamlField* YamlParser::Get(const YamlSection& s, const std::string& key,
                                 bool required, bool* failed) {
  const YamlField* f = s.Find(key);
  if (!f && required) {
    Fail(s.line, s.Key(key), "missing required key");
    *failed = true;
  }
  return f;
}

bool YamlParser::String(const YamlSection& s, const std::string& key,
                        bool required, std::string* out) {
  bool failed = false;
  const YamlField* f = Get(s, key, required, &failed);
  if (!f) return !failed;
  if (!f->value.IsScalar())
    return Fail(ValueLine(*f), s.Key(key), "expected a string");
  *out = f->value.Scalar();
  if (out->empty()) return Fail(ValueLine(*f), s.Key(key), "must not be empty");
  return true;
}

bool YamlParser::Choice(const YamlSection& s, const std::string& key,
                        const std::vector<std::string>& choices,
                        std::string* out) {
  std::string value = *out;
  if (!String(s, key, false, &value)) return false;
  for (const std::string& c : choices) {
    if (c == value) {
      *out = value;
      return true;
    }
  }
  std::string list;
  for (size_t i = 0; i < choices.size(); ++i)
    list += (i == 0                    ? ""
             : i + 1 == choices.size() ? " or "
                                       : ", ") +
            choices[i];
  return Fail(ValueLine(*s.Find(key)), s.Key(key),
              "expected " + list + ", got \"" + value + "\"");
}

bool YamlParser::Int(const YamlSection& s, const std::string& key,
                     bool required, int min, int max, int* out) {
  bool failed = false;
  const YamlField* f = Get(s, key, required, &failed);
  if (!f) return !failed;
  long long v = 0;
  if (!f->value.IsScalar() || !ParseInt(f->value.Scalar(), &v))
    return Fail(ValueLine(*f), s.Key(key), "expected an integer");
  if (v < min || v > max) {
    std::string problem = max == INT_MAX
                              ? "must be at least " + std::to_string(min)
                              : "must be between " + std::to_string(min) +
                                    " and " + std::to_string(max);
    return Fail(ValueLine(*f), s.Key(key), problem);
  }
  *out = static_cast<int>(v);
  return true;
}

bool YamlParser::Number(const YamlSection& s, const std::string& key,
                        double min, double max, bool min_exclusive,
                        double* out) {
  bool failed = false;
  const YamlField* f = Get(s, key, false, &failed);
  if (!f) return true;
  double v = 0;
  if (!f->value.IsScalar() || !ParseNumber(f->value.Scalar(), &v))
    return Fail(ValueLine(*f), s.Key(key), "expected a number");
  if (min_exclusive && v <= min)
    return Fail(ValueLine(*f), s.Key(key),
                "must be greater than " + FormatNumber(min));
  if (v < min || v > max)
    return Fail(
        ValueLine(*f), s.Key(key),
        "must be between " + FormatNumber(min) + " and " + FormatNumber(max));
  *out = v;
  return true;
}

bool YamlParser::Duration(const YamlSection& s, const std::string& key,
                          bool positive, int64_t* out) {
  const YamlField* f = s.Find(key);
  if (!f) return true;
  if (!f->value.IsScalar())
    return Fail(ValueLine(*f), s.Key(key), "expected a duration");
  std::string derr;
  int64_t ms = 0;
  if (!ParseDuration(f->value.Scalar(), &ms, &derr))
    return Fail(ValueLine(*f), s.Key(key), derr);
  if (positive && ms <= 0)
    return Fail(ValueLine(*f), s.Key(key), "must be greater than 0");
  *out = ms;
  return true;
}

bool YamlParser::Bool(const YamlSection& s, const std::string& key, bool* out) {
  const YamlField* f = s.Find(key);
  if (!f) return true;
  const std::string v = f->value.IsScalar() ? f->value.Scalar() : "";
  if (v == "true") {
    *out = true;
  } else if (v == "false") {
    *out = false;
  } else {
    return Fail(ValueLine(*f), s.Key(key), "expected true or false");
  }
  return true;
}

bool YamlParser::Argv(const YamlSection& s, const std::string& key,
                      bool required, std::vector<std::string>* out) {
  bool failed = false;
  const YamlField* f = Get(s, key, required, &failed);
  if (!f) return !failed;
  int line = ValueLine(*f);
  out->clear();
  if (!f->value.IsNull()) {
    if (!f->value.IsSequence())
      return Fail(line, s.Key(key), "expected a list of strings");
    for (const YAML::Node& item : f->value) {
      if (!item.IsScalar())
        return Fail(LineOf(item, line), s.Key(key),
                    "expected a list of strings");
      out->push_back(item.Scalar());
    }
  }
  if (required && out->empty())
    return Fail(line, s.Key(key), "must not be empty");
  if (!out->empty() && out->front().empty())
    return Fail(line, s.Key(key), "the program name must not be empty");
  return true;
}

}  // namespace bgctl
