#include "controller/lua_switch.h"

#include "controller/failpoint.h"
#include "controller/lua_upstream.h"
#include "controller/text.h"
#include "controller/upstream_file.h"

namespace bgctl {

namespace {

std::string Short(std::string s) {
  s = Trim(s);
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

// The generation of a served line ("none": 0). False for any other text.
bool GenerationOf(const std::string& line, uint64_t* generation) {
  if (line == "none") {
    *generation = 0;
    return true;
  }
  if (line.rfind("gen=", 0) != 0) return false;
  size_t end = line.find(';');
  return ParseDecimal(line.substr(4, end == std::string::npos ? end : end - 4),
                      generation);
}

}  // namespace

LuaSwitch::LuaSwitch(const NginxConfig& cfg, Env env, HttpPoster* post)
    : cfg_(cfg), env_(env), post_(post) {}

SwitchResult LuaSwitch::Apply(const TrafficSplit& split) {
  int64_t start = env_.clock->NowMs();
  SwitchResult r;
  if (!CheckLuaSplit(split, cfg_.lua, &r.error)) {
    r.outcome = SwitchOutcome::kRejected;
  } else {
    r.outcome = Install(split, &r.error);
  }
  if (r.outcome == SwitchOutcome::kConfirmed) {
    r.confirmed_by = "exact";
    r.error.clear();
  }
  r.elapsed_ms = env_.clock->NowMs() - start;
  return r;
}

SwitchOutcome LuaSwitch::Install(const TrafficSplit& split, std::string* err) {
  const std::string& path = cfg_.upstream_file;
  std::string previous;
  bool had_previous = env_.fs->Exists(path);
  if (had_previous && !env_.fs->ReadFile(path, &previous, err))
    return SwitchOutcome::kRejected;
  std::string text = RenderLuaUpstream(cfg_.upstream_name, split, cfg_.lua,
                                       cfg_.upstream_keepalive);
  if (!env_.fs->WriteFileAtomic(path, text, err))
    return SwitchOutcome::kRejected;
  Failpoint("upstream-written");

  const LuaSwitchConfig& c = cfg_.lua;
  const std::string line = LuaSplitLine(split, c);
  HttpResponse pushed;
  std::string push_err;
  bool answered = post_->Post(c.control_host, c.control_port, c.control_path,
                              line, timeout_ms_, &pushed, &push_err);
  Failpoint("split-pushed");
  if (answered && pushed.status >= 400 && pushed.status < 500) {
    *err = "nginx refused the split: HTTP " + std::to_string(pushed.status) +
           ": " + Short(pushed.body);
    return RestoreUpstreamFile(env_.fs, path, had_previous, previous, err)
               ? SwitchOutcome::kRejected
               : SwitchOutcome::kUnknown;
  }
  std::string served, read_err;
  bool read = ReadServed(&served, &read_err);
  if (read && served == line) return SwitchOutcome::kConfirmed;
  if (!answered) {
    *err = "nginx lua push failed: " + push_err;
  } else if (pushed.status != 200) {
    *err = "nginx lua push answered HTTP " + std::to_string(pushed.status) +
           ": " + Short(pushed.body);
  } else {
    uint64_t got = 0;
    std::string what =
        !read ? read_err
        : GenerationOf(served, &got)
            ? "control answered generation " + std::to_string(got)
            : "control answered \"" + Short(served) + "\"";
    *err = "nginx lua split not confirmed: " + what + ", expected " +
           std::to_string(split.generation);
  }
  return SwitchOutcome::kUnknown;
}

bool LuaSwitch::ServedGeneration(uint64_t* generation, std::string* err) {
  std::string line;
  if (!ReadServed(&line, err)) return false;
  if (GenerationOf(line, generation)) return true;
  *err = "nginx lua control " + cfg_.lua.control_url + ": answered \"" +
         Short(line) + "\", not a split";
  return false;
}

bool LuaSwitch::ReadServed(std::string* line, std::string* err) {
  const LuaSwitchConfig& c = cfg_.lua;
  HttpResponse response;
  std::string get_err;
  if (!env_.http->Get(c.control_host, c.control_port, c.control_path,
                      timeout_ms_, &response, &get_err)) {
    *err = "nginx lua control " + c.control_url + ": " + get_err;
    return false;
  }
  if (response.status != 200) {
    *err = "nginx lua control " + c.control_url + ": answered HTTP " +
           std::to_string(response.status) + ": " + Short(response.body);
    return false;
  }
  *line = Trim(response.body);
  return true;
}

}  // namespace bgctl
