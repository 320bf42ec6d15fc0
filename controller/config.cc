#include "controller/config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "controller/duration.h"

namespace bgctl {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// 1-64 characters of [A-Za-z0-9._-].
bool IsValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!IsNameChar(c)) return false;
  return true;
}

bool IsEnvName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!IsNameChar(c) || c == '.' || c == '-') return false;
  return true;
}

// Parses a whole string as a decimal integer in [min, max].
bool ParseInt(const std::string& s, long long* out) {
  if (s.empty()) return false;
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

// One key of a YAML map with its value.
struct Field {
  YAML::Node key;
  YAML::Node value;
};

// A YAML map whose keys were checked against the allowed ones.
struct Section {
  std::string name;  // dotted path, "" at the top level
  int line = 1;      // 1-based line of the map (or of its key)
  std::map<std::string, Field> fields;

  std::string Key(const std::string& k) const {
    return name.empty() ? k : name + "." + k;
  }
  const Field* Find(const std::string& k) const {
    auto it = fields.find(k);
    return it == fields.end() ? nullptr : &it->second;
  }
};

int LineOf(const YAML::Node& node, int fallback) {
  int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

// Walks the YAML tree; the first problem ends the walk with *err set.
class Parser {
 public:
  Parser(const std::string& path, std::string* err) : path_(path), err_(err) {}

  bool Fail(int line, const std::string& key, const std::string& problem) {
    *err_ = path_ + ":" + std::to_string(line) + ": " +
            (key.empty() ? "" : key + ": ") + problem;
    return false;
  }

  // The line of a field's value; a null value's mark points past it.
  int ValueLine(const Field& f) const {
    int key_line = LineOf(f.key, 1);
    return f.value.IsNull() ? key_line : LineOf(f.value, key_line);
  }

  // Reads `node` (a map, or null meaning an empty map) into *out, rejecting
  // keys outside `allowed` and duplicate keys.
  bool Open(const YAML::Node& node, int line, const std::string& name,
            const std::set<std::string>& allowed, Section* out) {
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
      out->fields[key] = Field{it->first, it->second};
    }
    return true;
  }

  // Opens the map under `key` of `parent`; a missing optional map is empty.
  bool Sub(const Section& parent, const std::string& key, bool required,
           const std::set<std::string>& allowed, Section* out) {
    const Field* f = parent.Find(key);
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

  // Finds `key`; false when absent (then, if required, *err is set and
  // *failed is true).
  const Field* Get(const Section& s, const std::string& key, bool required,
                   bool* failed) {
    const Field* f = s.Find(key);
    if (!f && required) {
      Fail(s.line, s.Key(key), "missing required key");
      *failed = true;
    }
    return f;
  }

  bool String(const Section& s, const std::string& key, bool required,
              std::string* out) {
    bool failed = false;
    const Field* f = Get(s, key, required, &failed);
    if (!f) return !failed;
    if (!f->value.IsScalar())
      return Fail(ValueLine(*f), s.Key(key), "expected a string");
    *out = f->value.Scalar();
    if (out->empty())
      return Fail(ValueLine(*f), s.Key(key), "must not be empty");
    return true;
  }

  bool Int(const Section& s, const std::string& key, bool required, int min,
           int max, int* out) {
    bool failed = false;
    const Field* f = Get(s, key, required, &failed);
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

  // A number in [min, max]; with `min_exclusive` it must exceed min.
  bool Number(const Section& s, const std::string& key, double min, double max,
              bool min_exclusive, double* out) {
    bool failed = false;
    const Field* f = Get(s, key, false, &failed);
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

  // An optional duration; with `positive` zero is rejected.
  bool Duration(const Section& s, const std::string& key, bool positive,
                int64_t* out) {
    const Field* f = s.Find(key);
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

  // A list of strings; a required list must not be empty.
  bool Argv(const Section& s, const std::string& key, bool required,
            std::vector<std::string>* out) {
    bool failed = false;
    const Field* f = Get(s, key, required, &failed);
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

 private:
  std::string path_;
  std::string* err_;
};

// Absolute folder of the config file (lexically normalized).
std::string AbsoluteDir(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    fs::path cwd = fs::current_path(ec);
    p = (ec ? fs::path("/") : cwd) / p;
  }
  fs::path dir = p.lexically_normal().parent_path();
  std::string s = dir.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s.empty() ? "/" : s;
}

std::string Resolve(const std::string& dir, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative()) p = fs::path(dir) / p;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Splits http://HOST:PORT/PATH.
bool SplitProbeUrl(const std::string& url, NginxConfig* n) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  size_t host_end = url.find(':', scheme.size());
  size_t slash = url.find('/', scheme.size());
  if (host_end == std::string::npos || slash == std::string::npos ||
      host_end > slash || host_end == scheme.size())
    return false;
  long long port = 0;
  if (!ParseInt(url.substr(host_end + 1, slash - host_end - 1), &port) ||
      port < 1 || port > 65535)
    return false;
  n->probe_host = url.substr(scheme.size(), host_end - scheme.size());
  n->probe_port = static_cast<int>(port);
  n->probe_path = url.substr(slash);
  return true;
}

bool ParseSignal(const std::string& name, int* sig) {
  static const std::map<std::string, int> kSignals = {
      {"SIGTERM", 15}, {"SIGINT", 2},   {"SIGQUIT", 3},
      {"SIGHUP", 1},   {"SIGUSR1", 10}, {"SIGUSR2", 12}};
  auto it = kSignals.find(name);
  if (it == kSignals.end()) return false;
  *sig = it->second;
  return true;
}

bool ParseNginx(Parser* p, const Section& top, NginxConfig* n) {
  Section s;
  if (!p->Sub(top, "nginx", true,
              {"upstream_file", "upstream_name", "test_command",
               "reload_command", "access_log", "probe_url"},
              &s))
    return false;
  if (!p->String(s, "upstream_file", true, &n->upstream_file) ||
      !p->String(s, "upstream_name", true, &n->upstream_name))
    return false;
  if (!IsValidName(n->upstream_name))
    return p->Fail(p->ValueLine(*s.Find("upstream_name")),
                   s.Key("upstream_name"),
                   "invalid name \"" + n->upstream_name +
                       "\": use 1-64 characters of A-Z a-z 0-9 . _ -");
  if (!p->Argv(s, "test_command", true, &n->test_command) ||
      !p->Argv(s, "reload_command", true, &n->reload_command) ||
      !p->String(s, "access_log", true, &n->access_log) ||
      !p->String(s, "probe_url", true, &n->probe_url))
    return false;
  if (!SplitProbeUrl(n->probe_url, n))
    return p->Fail(
        p->ValueLine(*s.Find("probe_url")), s.Key("probe_url"),
        "bad URL \"" + n->probe_url + "\": expected http://HOST:PORT/PATH");
  return true;
}

bool ParseSlots(Parser* p, const Section& top, Config* c) {
  Section slots, blue, green;
  if (!p->Sub(top, "slots", true, {"blue", "green"}, &slots) ||
      !p->Sub(slots, "blue", true, {"port"}, &blue) ||
      !p->Int(blue, "port", true, 1, 65535, &c->blue_port) ||
      !p->Sub(slots, "green", true, {"port"}, &green) ||
      !p->Int(green, "port", true, 1, 65535, &c->green_port))
    return false;
  if (c->green_port == c->blue_port)
    return p->Fail(
        p->ValueLine(*green.Find("port")), "slots.green.port",
        "same port as slots.blue.port (" + std::to_string(c->blue_port) + ")");
  const Section* sections[] = {&blue, &green};
  for (const Section* s : sections) {
    int port = s == &blue ? c->blue_port : c->green_port;
    if (port == c->nginx.probe_port)
      return p->Fail(
          p->ValueLine(*s->Find("port")), s->Key("port"),
          "same port as nginx.probe_url (" + std::to_string(port) + ")");
  }
  return true;
}

bool ParseBackend(Parser* p, const Section& top, BackendConfig* b) {
  Section s, env, health, drain;
  if (!p->Sub(top, "backend", true,
              {"command", "workdir", "env", "health", "drain"}, &s) ||
      !p->Argv(s, "command", true, &b->command) ||
      !p->String(s, "workdir", false, &b->workdir))
    return false;
  // env: a map of variable names to strings (any key is allowed by name).
  if (const Field* f = s.Find("env")) {
    if (!f->value.IsNull() && !f->value.IsMap())
      return p->Fail(p->ValueLine(*f), s.Key("env"), "expected a map");
    for (auto it = f->value.begin(); f->value.IsMap() && it != f->value.end();
         ++it) {
      std::string name = it->first.Scalar();
      int line = LineOf(it->first, p->ValueLine(*f));
      if (!it->first.IsScalar() || !IsEnvName(name))
        return p->Fail(line, s.Key("env." + name),
                       "invalid environment variable name");
      if (!it->second.IsScalar())
        return p->Fail(LineOf(it->second, line), s.Key("env." + name),
                       "expected a string");
      b->env[name] = it->second.Scalar();
    }
  }
  HealthConfig& h = b->health;
  if (!p->Sub(s, "health", false,
              {"path", "interval", "timeout", "healthy_threshold", "deadline"},
              &health) ||
      !p->String(health, "path", false, &h.path))
    return false;
  if (h.path[0] != '/')
    return p->Fail(p->ValueLine(*health.Find("path")), health.Key("path"),
                   "must start with /");
  if (!p->Duration(health, "interval", true, &h.interval_ms) ||
      !p->Duration(health, "timeout", true, &h.timeout_ms) ||
      !p->Int(health, "healthy_threshold", false, 1, INT_MAX,
              &h.healthy_threshold) ||
      !p->Duration(health, "deadline", true, &h.deadline_ms))
    return false;
  DrainConfig& d = b->drain;
  if (!p->Sub(s, "drain", false, {"signal", "timeout"}, &drain) ||
      !p->String(drain, "signal", false, &d.signal_name))
    return false;
  if (!ParseSignal(d.signal_name, &d.signal))
    return p->Fail(p->ValueLine(*drain.Find("signal")), drain.Key("signal"),
                   "unknown signal \"" + d.signal_name +
                       "\": use one of SIGTERM SIGINT SIGQUIT SIGHUP SIGUSR1 "
                       "SIGUSR2");
  return p->Duration(drain, "timeout", false, &d.timeout_ms);
}

bool ParseSteps(Parser* p, const Section& rollout, RolloutConfig* r) {
  const Field* f = rollout.Find("steps");
  if (!f) return true;  // the defaults
  std::string key = rollout.Key("steps");
  int line = p->ValueLine(*f);
  if (!f->value.IsSequence()) return p->Fail(line, key, "expected a list");
  if (f->value.size() == 0) return p->Fail(line, key, "must not be empty");
  r->steps.clear();
  int previous = 0, index = 0;
  for (const YAML::Node& item : f->value) {
    std::string name = key + "[" + std::to_string(index++) + "]";
    Section step;
    StepConfig sc;
    if (!p->Open(item, line, name, {"weight", "pause"}, &step) ||
        !p->Int(step, "weight", true, 1, 100, &sc.weight))
      return false;
    int weight_line = p->ValueLine(*step.Find("weight"));
    if (sc.weight <= previous)
      return p->Fail(weight_line, step.Key("weight"),
                     "must be greater than the previous step's weight (" +
                         std::to_string(previous) + ")");
    const Field* pause = step.Find("pause");
    if (pause && pause->value.IsScalar() && pause->value.Scalar() == "forever")
      sc.pause_forever = true;
    else if (!p->Duration(step, "pause", false, &sc.pause_ms))
      return false;
    previous = sc.weight;
    r->steps.push_back(sc);
    if (index == static_cast<int>(f->value.size()) && sc.weight != 100)
      return p->Fail(weight_line, step.Key("weight"),
                     "the last step must have weight 100 (got " +
                         std::to_string(sc.weight) + ")");
  }
  return true;
}

bool ParseRollout(Parser* p, const Section& top, RolloutConfig* r) {
  Section s, a;
  if (!p->Sub(top, "rollout", false, {"steps", "keep_previous", "analysis"},
              &s) ||
      !ParseSteps(p, s, r) ||
      !p->Duration(s, "keep_previous", false, &r->keep_previous_ms))
    return false;
  AnalysisConfig& c = r->analysis;
  double ratio = c.max_latency_ratio, cpu = c.max_cpu_percent;
  if (!p->Sub(s, "analysis", false,
              {"interval", "min_requests", "failure_limit", "max_error_rate",
               "max_p99_latency", "max_latency_ratio", "max_cpu_percent",
               "on_no_data"},
              &a) ||
      !p->Duration(a, "interval", true, &c.interval_ms) ||
      !p->Int(a, "min_requests", false, 1, INT_MAX, &c.min_requests) ||
      !p->Int(a, "failure_limit", false, 1, INT_MAX, &c.failure_limit) ||
      !p->Number(a, "max_error_rate", 0, 1, false, &c.max_error_rate) ||
      !p->Duration(a, "max_p99_latency", true, &c.max_p99_latency_ms) ||
      !p->Number(a, "max_latency_ratio", 0, 1e9, true, &ratio) ||
      !p->Number(a, "max_cpu_percent", 0, 1e9, true, &cpu))
    return false;
  c.max_latency_ratio = ratio;
  c.max_cpu_percent = cpu;
  std::string on_no_data = "continue";
  if (!p->String(a, "on_no_data", false, &on_no_data)) return false;
  if (on_no_data == "continue") {
    c.on_no_data = OnNoData::kContinue;
  } else if (on_no_data == "rollback") {
    c.on_no_data = OnNoData::kRollback;
  } else {
    return p->Fail(p->ValueLine(*a.Find("on_no_data")), a.Key("on_no_data"),
                   "expected continue or rollback, got \"" + on_no_data + "\"");
  }
  return true;
}

bool ParseHooks(Parser* p, const Section& top, HooksConfig* h) {
  Section s;
  return p->Sub(top, "hooks", false,
                {"timeout", "pre_traffic", "post_promote", "on_rollback"},
                &s) &&
         p->Duration(s, "timeout", true, &h->timeout_ms) &&
         p->Argv(s, "pre_traffic", false, &h->pre_traffic) &&
         p->Argv(s, "post_promote", false, &h->post_promote) &&
         p->Argv(s, "on_rollback", false, &h->on_rollback);
}

bool ParseTop(Parser* p, const YAML::Node& root, Config* c) {
  Section top;
  if (!p->Open(root, 1, "",
               {"service", "state_dir", "nginx", "slots", "backend", "rollout",
                "hooks"},
               &top))
    return false;
  std::string state_dir = ".bgctl";
  if (!p->String(top, "service", true, &c->service)) return false;
  if (!IsValidName(c->service))
    return p->Fail(p->ValueLine(*top.Find("service")), "service",
                   "invalid service name \"" + c->service +
                       "\": use 1-64 characters of A-Z a-z 0-9 . _ -");
  if (!p->String(top, "state_dir", false, &state_dir) ||
      !ParseNginx(p, top, &c->nginx) || !ParseSlots(p, top, c) ||
      !ParseBackend(p, top, &c->backend) ||
      !ParseRollout(p, top, &c->rollout) || !ParseHooks(p, top, &c->hooks))
    return false;
  c->state_dir = Resolve(c->dir, state_dir);
  c->nginx.upstream_file = Resolve(c->dir, c->nginx.upstream_file);
  c->nginx.access_log = Resolve(c->dir, c->nginx.access_log);
  c->backend.workdir =
      c->backend.workdir.empty() ? c->dir : Resolve(c->dir, c->backend.workdir);
  return true;
}

}  // namespace

int Config::PortOf(const std::string& slot) const {
  if (slot == "blue") return blue_port;
  if (slot == "green") return green_port;
  return 0;
}

bool ParseConfig(const std::string& text, const std::string& path,
                 Config* config, std::string* err) {
  Config c;
  c.path = path;
  c.dir = AbsoluteDir(path);
  c.rollout.steps = {StepConfig{10, 30000, false}, StepConfig{50, 30000, false},
                     StepConfig{100, 0, false}};
  Parser parser(path, err);
  try {
    YAML::Node root = YAML::Load(text);
    if (!ParseTop(&parser, root, &c)) return false;
  } catch (const YAML::ParserException& e) {
    *err = path + ":" + std::to_string(e.mark.line + 1) +
           ": yaml syntax error: " + e.msg;
    return false;
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    *err = path + ":" + std::to_string(line) + ": " + e.msg;
    return false;
  }
  *config = std::move(c);
  return true;
}

bool LoadConfig(const std::string& path, Config* config, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot read " + path + ": " + strerror(errno);
    return false;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = "cannot read " + path + ": " + strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ParseConfig(text, path, config, err);
}

bool ValidateVersion(const std::string& version, std::string* err) {
  if (IsValidName(version)) return true;
  *err = "invalid version \"" + version +
         "\": use 1-64 characters of A-Z a-z 0-9 . _ -";
  return false;
}

std::vector<std::string> FillPlaceholders(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& vars) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& arg : argv) {
    std::string filled;
    size_t i = 0;
    while (i < arg.size()) {
      size_t open = arg.find('{', i);
      size_t close = open == std::string::npos ? open : arg.find('}', open);
      if (close == std::string::npos) {
        filled.append(arg, i, std::string::npos);
        break;
      }
      filled.append(arg, i, open - i);
      auto it = vars.find(arg.substr(open + 1, close - open - 1));
      if (it != vars.end()) {
        filled += it->second;
        i = close + 1;
      } else {
        filled += '{';  // not a placeholder: keep it, look again after '{'
        i = open + 1;
      }
    }
    out.push_back(filled);
  }
  return out;
}

}  // namespace bgctl
