#include "controller/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "controller/config_yaml.h"
#include "controller/names.h"
#include "controller/steps.h"

namespace bgctl {

namespace {

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
bool SplitUrl(const std::string& url, std::string* host, int* port,
              std::string* path) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  size_t host_end = url.find(':', scheme.size());
  size_t slash = url.find('/', scheme.size());
  if (host_end == std::string::npos || slash == std::string::npos ||
      host_end > slash || host_end == scheme.size())
    return false;
  long long number = 0;
  if (!ParseInt(url.substr(host_end + 1, slash - host_end - 1), &number) ||
      number < 1 || number > 65535)
    return false;
  *host = url.substr(scheme.size(), host_end - scheme.size());
  *port = static_cast<int>(number);
  *path = url.substr(slash);
  return true;
}

bool SplitProbeUrl(const std::string& url, NginxConfig* n) {
  return SplitUrl(url, &n->probe_host, &n->probe_port, &n->probe_path);
}

// 127.0.0.0/8 or ::1, written as numbers.
bool IsLoopbackHost(const std::string& host) {
  unsigned char a[16];
  if (inet_pton(AF_INET, host.c_str(), a) == 1) return a[0] == 127;
  return host == "::1" || host == "[::1]";
}

// Why `url` cannot be the control location's URL, "" when it can: it
// reaches an HTTP request line as it is, so nothing but characters of a
// plain URL and a port of digits is taken.
std::string ControlUrlProblem(const std::string& url) {
  for (char ch : url) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7f || ch == '#' || ch == '?')
      return "must not hold spaces, control characters (CR, LF), '#' or '?'";
  }
  size_t colon = url.find(':', 7), slash = url.find('/', 7);
  if (colon != std::string::npos && slash != std::string::npos && colon < slash)
    for (size_t i = colon + 1; i < slash; ++i)
      if (url[i] < '0' || url[i] > '9') return "the port must be digits only";
  return "";
}

// nginx.lua (only with nginx.switch: lua).
bool ParseLua(YamlParser* p, const YamlSection& nginx,
              const std::string& config_path, NginxConfig* n) {
  const YamlField* field = nginx.Find("lua");
  if (field && n->switch_kind != SwitchKind::kLua)
    return p->Fail(LineOf(field->key, nginx.line), nginx.Key("lua"),
                   "only used with nginx.switch: lua");
  if (n->switch_kind != SwitchKind::kLua) return true;
  LuaSwitchConfig& c = n->lua;
  c.control_url = "http://" + n->probe_host + ":" +
                  std::to_string(n->probe_port) + "/__bgctl/split";
  YamlSection s;
  if (!p->Sub(nginx, "lua", false,
              {"control_url", "preview_header", "sticky_cookie"}, &s) ||
      !p->String(s, "control_url", false, &c.control_url) ||
      !p->String(s, "preview_header", false, &c.preview_header) ||
      !p->String(s, "sticky_cookie", false, &c.sticky_cookie))
    return false;
  const YamlField* url = s.Find("control_url");
  const int url_line = url ? p->ValueLine(*url)
                           : LineOf(nginx.Find("probe_url")->key, nginx.line);
  c.control_url_where = config_path + ":" + std::to_string(url_line) + ": " +
                        (url ? s.Key("control_url") : nginx.Key("probe_url"));
  auto fail = [&](const char* key, const std::string& problem) {
    const YamlField* f = s.Find(key);
    return f ? p->Fail(p->ValueLine(*f), s.Key(key), problem)
             : p->Fail(url_line, nginx.Key("probe_url"), problem);
  };
  const std::string problem = ControlUrlProblem(c.control_url);
  if (!problem.empty()) return fail("control_url", "bad URL: " + problem);
  if (!SplitUrl(c.control_url, &c.control_host, &c.control_port,
                &c.control_path))
    return fail("control_url", "bad URL \"" + c.control_url +
                                   "\": expected http://HOST:PORT/PATH");
  if (c.control_path != "/__bgctl/split")
    return fail("control_url",
                "bad URL \"" + c.control_url + "\": the path must be " +
                    "/__bgctl/split, the control location's (got " +
                    c.control_path + ")");
  if (!IsLoopbackHost(c.control_host))
    return fail("control_url",
                "host \"" + c.control_host +
                    "\" is not a loopback address (127.0.0.1 or ::1): the "
                    "control location must never be reachable from outside");
  if (c.preview_header == "none") c.preview_header.clear();
  if (!c.preview_header.empty() && !IsHeaderName(c.preview_header))
    return fail("preview_header",
                "invalid header name \"" + c.preview_header +
                    "\": use 1-64 characters of A-Z a-z 0-9 - (or none)");
  if (!c.sticky_cookie.empty() && !IsCookieName(c.sticky_cookie))
    return fail("sticky_cookie",
                "invalid cookie name \"" + c.sticky_cookie +
                    "\": use 1-64 characters of A-Z a-z 0-9 _ -");
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

bool ParseNginx(YamlParser* p, const YamlSection& top,
                const std::string& config_path, NginxConfig* n) {
  YamlSection s;
  if (!p->Sub(
          top, "nginx", true,
          {"upstream_file", "upstream_name", "test_command", "reload_command",
           "access_log", "probe_url", "switch", "lua", "upstream_keepalive"},
          &s))
    return false;
  if (!p->Int(s, "upstream_keepalive", false, 0, 10000, &n->upstream_keepalive))
    return false;
  std::string kind = "reload";
  if (!p->Choice(s, "switch", {"reload", "lua"}, &kind)) return false;
  n->switch_kind = kind == "lua" ? SwitchKind::kLua : SwitchKind::kReload;
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
  return ParseLua(p, s, config_path, n);
}

bool ParseSlots(YamlParser* p, const YamlSection& top, Config* c) {
  YamlSection slots, blue, green;
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
  const YamlSection* sections[] = {&blue, &green};
  for (const YamlSection* s : sections) {
    int port = s == &blue ? c->blue_port : c->green_port;
    if (port == c->nginx.probe_port)
      return p->Fail(
          p->ValueLine(*s->Find("port")), s->Key("port"),
          "same port as nginx.probe_url (" + std::to_string(port) + ")");
  }
  return true;
}

// NAME + `suffix`, NAME a name systemd loads (IsUnitNamePrefix).
bool IsUnitNameWithSuffix(const std::string& name, const std::string& suffix) {
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
             0 &&
         IsUnitNamePrefix(name.substr(0, name.size() - suffix.size()));
}

// True when a component of `path` is "..".
bool HasDotDot(const std::string& path) {
  for (const auto& part : std::filesystem::path(path))
    if (part == "..") return true;
  return false;
}

// backend.systemd (only with backend.runner: systemd). With a template the
// template's ExecStart runs, so backend.command, workdir and
// backend.systemd.user are errors rather than silently unused.
bool ParseSystemd(YamlParser* p, const YamlSection& backend, BackendConfig* b) {
  const YamlField* field = backend.Find("systemd");
  if (field && b->runner != RunnerKind::kSystemd)
    return p->Fail(LineOf(field->key, backend.line), backend.Key("systemd"),
                   "only used with backend.runner: systemd");
  YamlSection s;
  SystemdConfig& c = b->systemd;
  if (!p->Sub(backend, "systemd", false,
              {"unit_dir", "template", "wanted_by", "user"}, &s) ||
      !p->String(s, "unit_dir", false, &c.unit_dir) ||
      !p->String(s, "template", false, &c.template_unit) ||
      !p->String(s, "wanted_by", false, &c.wanted_by) ||
      !p->String(s, "user", false, &c.user))
    return false;
  auto fail = [&](const char* key, const std::string& problem) {
    return p->Fail(p->ValueLine(*s.Find(key)), s.Key(key), problem);
  };
  if (c.unit_dir[0] != '/') return fail("unit_dir", "must be an absolute path");
  if (HasDotDot(c.unit_dir))
    return fail("unit_dir", "\"" + c.unit_dir +
                                "\" has a .. component: name the folder "
                                "itself (bgctl writes units there as root)");
  if (!c.template_unit.empty() &&
      !IsUnitNameWithSuffix(c.template_unit, "@.service"))
    return fail("template", "invalid template unit \"" + c.template_unit +
                                "\": expected NAME@.service, NAME of "
                                "A-Z a-z 0-9 . _ - not starting with . or -");
  if (!IsUnitNameWithSuffix(c.wanted_by, ".target"))
    return fail("wanted_by", "invalid target \"" + c.wanted_by +
                                 "\": expected NAME.target, NAME of "
                                 "A-Z a-z 0-9 . _ - not starting with . or -");
  if (!c.user.empty() &&
      (!IsValidName(c.user) || c.user.size() > 32 ||
       !(std::isalpha(static_cast<unsigned char>(c.user[0])) ||
         c.user[0] == '_')))
    return fail("user", "invalid user name \"" + c.user + "\"");
  if (c.template_unit.empty()) return true;
  for (const char* key : {"command", "workdir"})
    if (const YamlField* f = backend.Find(key))
      return p->Fail(p->ValueLine(*f), backend.Key(key),
                     "not used with backend.systemd.template (the "
                     "template's ExecStart and WorkingDirectory run): "
                     "remove it");
  if (!c.user.empty())
    return fail("user",
                "not used with backend.systemd.template: set User= "
                "in the template");
  return true;
}

bool ParseBackend(YamlParser* p, const YamlSection& top, BackendConfig* b) {
  YamlSection s, env, health, drain;
  if (!p->Sub(
          top, "backend", true,
          {"command", "workdir", "env", "health", "drain", "runner", "systemd"},
          &s))
    return false;
  std::string runner = "process";
  if (!p->Choice(s, "runner", {"process", "systemd"}, &runner)) return false;
  b->runner = runner == "systemd" ? RunnerKind::kSystemd : RunnerKind::kProcess;
  if (!ParseSystemd(p, s, b) ||
      !p->Argv(s, "command", b->systemd.template_unit.empty(), &b->command) ||
      !p->String(s, "workdir", false, &b->workdir))
    return false;
  // env: a map of variable names to strings (any key is allowed by name).
  if (const YamlField* f = s.Find("env")) {
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

bool ParseSteps(YamlParser* p, const YamlSection& rollout, RolloutConfig* r) {
  const YamlField* f = rollout.Find("steps");
  if (!f) return true;  // the defaults
  std::string key = rollout.Key("steps");
  int line = p->ValueLine(*f);
  if (!f->value.IsSequence()) return p->Fail(line, key, "expected a list");
  if (f->value.size() == 0) return p->Fail(line, key, "must not be empty");
  r->steps.clear();
  int index = 0;
  for (const YAML::Node& item : f->value) {
    std::string name = key + "[" + std::to_string(index++) + "]";
    YamlSection step;
    StepConfig sc;
    if (!p->Open(item, line, name, {"weight", "pause"}, &step) ||
        !p->Int(step, "weight", true, 1, 100, &sc.weight))
      return false;
    int weight_line = p->ValueLine(*step.Find("weight"));
    const YamlField* pause = step.Find("pause");
    if (pause && pause->value.IsScalar() && pause->value.Scalar() == "forever")
      sc.pause_forever = true;
    else if (!p->Duration(step, "pause", false, &sc.pause_ms))
      return false;
    r->steps.push_back(sc);
    // The last-step rule applies only at the end of the list.
    std::string problem = StepProblem(r->steps, r->steps.size() - 1);
    bool last = index == static_cast<int>(f->value.size());
    if (!problem.empty() && (last || problem.rfind("the last step", 0) != 0))
      return p->Fail(weight_line, step.Key("weight"), problem);
  }
  return true;
}

// rollout.analysis.method, alpha, error_margin {relative, absolute} and
// latency_margin {relative, absolute (a duration)}.
bool ParseSequential(YamlParser* p, const YamlSection& a, AnalysisConfig* c) {
  std::string method = "sequential";
  if (!p->Choice(a, "method", {"sequential", "windows"}, &method) ||
      !p->Number(a, "alpha", 0, 0.5, true, &c->alpha))
    return false;
  c->method = method == "windows" ? AnalysisMethod::kWindows
                                  : AnalysisMethod::kSequential;
  YamlSection em, lm;
  int64_t latency_ms = static_cast<int64_t>(c->latency_margin.absolute);
  if (!p->Sub(a, "error_margin", false, {"relative", "absolute"}, &em) ||
      !p->Number(em, "relative", 0, 1000, false, &c->error_margin.relative) ||
      !p->Number(em, "absolute", 0, 1, false, &c->error_margin.absolute) ||
      !p->Sub(a, "latency_margin", false, {"relative", "absolute"}, &lm) ||
      !p->Number(lm, "relative", 0, 1000, false, &c->latency_margin.relative) ||
      !p->Duration(lm, "absolute", false, &latency_ms))
    return false;
  c->latency_margin.absolute = static_cast<double>(latency_ms);
  return true;
}

bool ParseRollout(YamlParser* p, const YamlSection& top, RolloutConfig* r) {
  YamlSection s, a;
  if (!p->Sub(top, "rollout", false, {"steps", "keep_previous", "analysis"},
              &s) ||
      !ParseSteps(p, s, r) ||
      !p->Duration(s, "keep_previous", false, &r->keep_previous_ms))
    return false;
  AnalysisConfig& c = r->analysis;
  double ratio = c.max_latency_ratio, cpu = c.max_cpu_percent;
  if (!p->Sub(
          s, "analysis", false,
          {"method", "alpha", "error_margin", "latency_margin", "interval",
           "min_requests", "failure_limit", "max_error_rate", "max_p99_latency",
           "max_latency_ratio", "max_cpu_percent", "on_no_data"},
          &a) ||
      !ParseSequential(p, a, &c) ||
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

bool ParseHooks(YamlParser* p, const YamlSection& top, HooksConfig* h) {
  YamlSection s;
  return p->Sub(top, "hooks", false,
                {"timeout", "pre_traffic", "post_promote", "on_rollback"},
                &s) &&
         p->Duration(s, "timeout", true, &h->timeout_ms) &&
         p->Argv(s, "pre_traffic", false, &h->pre_traffic) &&
         p->Argv(s, "post_promote", false, &h->post_promote) &&
         p->Argv(s, "on_rollback", false, &h->on_rollback);
}

// The first symbolic link on the way to `path` (absolute, normalized),
// folders only: "" when there is none. A missing folder ends the walk.
std::string SymlinkOnPath(const std::string& path) {
  std::string prefix;
  const std::filesystem::path folder =
      std::filesystem::path(path).parent_path();
  for (const auto& part : folder) {
    if (part == "/") continue;
    prefix += "/" + part.string();
    struct stat st;
    if (lstat(prefix.c_str(), &st) != 0) return "";
    if (S_ISLNK(st.st_mode)) return prefix;
  }
  return "";
}

// metrics.textfile: a NAME.prom file (node_exporter reads only those) whose
// name has no control character, in a folder reached without a symbolic
// link (bgctl rewrites it as root). `dir` is the config file's folder.
bool ParseMetrics(YamlParser* p, const YamlSection& top, const std::string& dir,
                  MetricsConfig* m) {
  if (!top.Find("metrics")) return true;
  YamlSection s;
  if (!p->Sub(top, "metrics", false, {"textfile"}, &s) ||
      !p->String(s, "textfile", true, &m->textfile))
    return false;
  auto fail = [&](const std::string& problem) {
    return p->Fail(p->ValueLine(*s.Find("textfile")), s.Key("textfile"),
                   problem);
  };
  const std::string suffix = ".prom";
  const std::string& f = m->textfile;
  if (f.empty()) return true;
  if (f.size() <= suffix.size() || f.back() == '/' ||
      f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0 ||
      f[f.size() - suffix.size() - 1] == '/')
    return fail("\"" + f +
                "\" must be a file name ending in .prom "
                "(node_exporter's textfile collector reads only those)");
  for (char c : f)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fail(
          "has a control character (a newline, a tab, ...) in it: "
          "use a plain file name");
  const std::string link = SymlinkOnPath(Resolve(dir, f));
  if (!link.empty())
    return fail("\"" + f + "\" is reached through the symbolic link " + link +
                ": name the real folder (bgctl never writes through a link)");
  return true;
}

bool ParseTop(YamlParser* p, const YAML::Node& root, Config* c) {
  YamlSection top;
  if (!p->Open(root, 1, "",
               {"service", "state_dir", "nginx", "slots", "backend", "rollout",
                "hooks", "metrics"},
               &top))
    return false;
  std::string state_dir = ".bgctl";
  if (!p->String(top, "service", true, &c->service)) return false;
  if (!IsValidName(c->service))
    return p->Fail(p->ValueLine(*top.Find("service")), "service",
                   "invalid service name \"" + c->service +
                       "\": use 1-64 characters of A-Z a-z 0-9 . _ -");
  if (!p->String(top, "state_dir", false, &state_dir) ||
      !ParseNginx(p, top, c->path, &c->nginx) || !ParseSlots(p, top, c) ||
      !ParseBackend(p, top, &c->backend) ||
      !ParseRollout(p, top, &c->rollout) || !ParseHooks(p, top, &c->hooks) ||
      !ParseMetrics(p, top, c->dir, &c->metrics))
    return false;
  c->state_dir = Resolve(c->dir, state_dir);
  c->nginx.upstream_file = Resolve(c->dir, c->nginx.upstream_file);
  c->nginx.access_log = Resolve(c->dir, c->nginx.access_log);
  if (!c->metrics.textfile.empty())
    c->metrics.textfile = Resolve(c->dir, c->metrics.textfile);
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
  // yaml-cpp keeps about 1 KB per node (a 400 KB flow list of empty maps
  // took 520 MB), so the text is bounded before it is parsed.
  if (text.size() > kMaxConfigBytes) {
    *err = path + ": too large: more than " + std::to_string(kMaxConfigBytes) +
           " bytes (a bgctl config is at most 64 KiB)";
    return false;
  }
  YamlParser parser(path, err);
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
    if (text.size() > kMaxConfigBytes) break;  // ParseConfig refuses it
  }
  close(fd);
  return ParseConfig(text, path, config, err);
}

}  // namespace bgctl
