#include "controller/lua_switch.h"

#include <algorithm>

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

std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

}  // namespace

const char* LoadedLuaFileText(LoadedLuaFile kind) {
  switch (kind) {
    case LoadedLuaFile::kReady:
      return "is the lua switch's, with this service's control key";
    case LoadedLuaFile::kNotLua:
      return "was not written for the lua switch (no $bgctl_split: the "
             "reload switch's file, or one from before bgctl)";
    case LoadedLuaFile::kNoControl:
      return "carries no control key (a placeholder, or a file from before "
             "control keys)";
    case LoadedLuaFile::kOtherControl:
      return "carries another control key or other instances (a rotated "
             "key, or other slot ports)";
    case LoadedLuaFile::kOldModule:
      break;
  }
  return "is served by a bgctl.lua from before control keys (its answers "
         "have no X-Bgctl-Protocol)";
}

LuaSwitch::LuaSwitch(const Config& config, Env env, HttpPoster* post)
    : cfg_(config.nginx),
      state_dir_(config.state_dir),
      allowed_(ServiceEndpoints(config)),
      env_(env),
      post_(post),
      reload_(config.nginx, config.dir, env) {}

std::string LuaSwitch::ControlUrl() const {
  return "nginx lua control " + cfg_.lua.control_url;
}

SwitchResult LuaSwitch::Apply(const TrafficSplit& split) {
  const int64_t start = env_.clock->NowMs();
  SwitchResult r;
  ControlKey key;
  if (!CheckLuaSplit(split, cfg_.lua, &r.error)) {
    r.outcome = SwitchOutcome::kRejected;
  } else {
    r.outcome = Prepare(split, &key, &r.note, &r.error);
    if (r.outcome == SwitchOutcome::kConfirmed)
      r.outcome = Install(split, key, &r.error);
  }
  if (r.outcome == SwitchOutcome::kConfirmed) {
    r.confirmed_by = "exact";
    r.error.clear();
    KeepPreviewToken(split, key, &r.note);
  }
  r.elapsed_ms = env_.clock->NowMs() - start;
  return r;
}

void LuaSwitch::KeepPreviewToken(const TrafficSplit& split,
                                 const ControlKey& key, std::string* note) {
  if (cfg_.lua.preview_header.empty() || split.canary.empty() ||
      split.rollout_id.empty())
    return;
  const std::string path = PreviewTokenPath(state_dir_);
  const std::string text = PreviewToken(key, split.rollout_id) + "\n";
  std::string old, err;
  if (env_.fs->Exists(path) && env_.fs->ReadFile(path, &old, &err) &&
      old == text)
    return;
  if (!env_.fs->WriteFileAtomic(path, text, &err, 0600))
    *note += std::string(note->empty() ? "" : "; ") +
             "cannot write the preview token: " + err;
}

bool LuaSwitch::Get(Answer* answer, std::string* err) {
  const LuaSwitchConfig& c = cfg_.lua;
  HttpResponse response;
  std::string get_err;
  if (!env_.http->Get(c.control_host, c.control_port, c.control_path,
                      timeout_ms_, &response, &get_err)) {
    *err = ControlUrl() + ": " + get_err;
    return false;
  }
  answer->status = response.status;
  answer->body = Trim(response.body);
  answer->control = HeaderOf(response, "x-bgctl-file-control");
  answer->generation = HeaderOf(response, "x-bgctl-file-generation");
  answer->protocol = !HeaderOf(response, "x-bgctl-protocol").empty();
  last_ = *answer;
  last_at_ms_ = env_.clock->NowMs();
  return true;
}

bool LuaSwitch::GetRecent(Answer* answer, std::string* err) {
  if (last_at_ms_ >= 0 && env_.clock->NowMs() - last_at_ms_ <= kReuseMs) {
    *answer = last_;
    return true;
  }
  return Get(answer, err);
}

LoadedLuaFile LuaSwitch::Classify(const Answer& a,
                                  const ControlKey& key) const {
  if (a.status == 409 && a.body.find("$bgctl_split") != std::string::npos)
    return LoadedLuaFile::kNotLua;
  if (!a.protocol) return LoadedLuaFile::kOldModule;
  if (a.control == "none") return LoadedLuaFile::kNoControl;
  if (a.control != Sha1Hex(LuaControlLine(key, allowed_)))
    return LoadedLuaFile::kOtherControl;
  return LoadedLuaFile::kReady;
}

bool LuaSwitch::Inspect(const ControlKey& key, LoadedLuaFile* kind,
                        std::string* err) {
  Answer a;
  if (!Get(&a, err)) return false;
  if (a.status != 200 && a.status != 409) {
    *err = ControlUrl() + ": answered HTTP " + std::to_string(a.status) + ": " +
           Short(a.body);
    return false;
  }
  uint64_t generation = 0;
  if ((a.status == 409 && a.body.find("$bgctl_split") == std::string::npos) ||
      (a.status == 200 && !GenerationOf(a.body, &generation))) {
    *err = ControlUrl() + ": answered HTTP " + std::to_string(a.status) +
           " \"" + Short(a.body) +
           "\", not as bgctl.lua's control location does";
    return false;
  }
  *kind = Classify(a, key);
  return true;
}

bool LuaSwitch::KeyFor(const Answer* loaded, bool create, ControlKey* key,
                       std::string* err) {
  const bool wants_key = loaded != nullptr && loaded->status == 200 &&
                         loaded->protocol && loaded->control != "none";
  if (wants_key) {
    if (LoadControlKey(env_.fs, state_dir_, key, err)) return true;
    *err +=
        " (nginx's loaded upstream file carries a control key, so bgctl "
        "never pushes without it; `bgctl rotate-key` writes a new key "
        "and migrates nginx with one confirmed reload)";
    return false;
  }
  return !create || LoadOrCreateControlKey(env_.fs, state_dir_, key, err);
}

bool LuaSwitch::CheckKey(std::string* err) {
  Answer a;
  std::string ignored;
  ControlKey key;
  const bool answered = Get(&a, &ignored);
  return KeyFor(answered ? &a : nullptr, /*create=*/false, &key, err);
}

SwitchOutcome LuaSwitch::Prepare(const TrafficSplit& split, ControlKey* key,
                                 std::string* note, std::string* err) {
  Answer a;
  std::string get_err;
  // Unanswered: the push below fails too and says why.
  const bool answered =
      GetRecent(&a, &get_err) && (a.status == 200 || a.status == 409);
  if (!KeyFor(answered ? &a : nullptr, /*create=*/true, key, err))
    return SwitchOutcome::kRejected;
  if (!answered) return SwitchOutcome::kConfirmed;
  LoadedLuaFile kind = Classify(a, *key);
  if (kind == LoadedLuaFile::kReady) return SwitchOutcome::kConfirmed;
  return Migrate(split, *key, kind, note, err);
}

SwitchOutcome LuaSwitch::Migrate(const TrafficSplit& split,
                                 const ControlKey& key, LoadedLuaFile kind,
                                 std::string* note, std::string* err) {
  const std::string& path = cfg_.upstream_file;
  UpstreamFileContents file;
  if (env_.fs->Exists(path)) {
    std::string text, why;
    if (!env_.fs->ReadFile(path, &text, &why) ||
        !ParseUpstreamFile(text, cfg_.upstream_name, &file, &why)) {
      *err = "cannot migrate " + path + " to the lua switch: " + why;
      return SwitchOutcome::kRejected;
    }
  }
  const bool keep = !file.servers.empty();
  const std::string text =
      keep ? RenderLuaServersUpstream(cfg_.upstream_name, file.servers,
                                      split.generation, key, allowed_,
                                      cfg_.upstream_keepalive)
           : RenderLuaUpstream(cfg_.upstream_name, split, cfg_.lua, key,
                               allowed_, cfg_.upstream_keepalive);
  int64_t ms = 0;
  last_at_ms_ = -1;  // nginx loads another file
  if (!reload_.ApplyText(text, split.generation, err, &ms)) {
    *err = "migrating nginx's upstream file to the lua switch: " + *err;
    return reload_.last_outcome();
  }
  *note = std::string("nginx's loaded upstream file ") +
          LoadedLuaFileText(kind) + ": migrated with one confirmed reload " +
          "(generation " + std::to_string(split.generation) + ", " +
          std::to_string(ms) + " ms), " +
          (keep ? "keeping the servers it had" : "with the new split");
  LoadedLuaFile after;
  if (!Inspect(key, &after, err)) return SwitchOutcome::kUnknown;
  if (after == LoadedLuaFile::kReady) return SwitchOutcome::kConfirmed;
  *err = "after a confirmed reload nginx's loaded upstream file still " +
         std::string(LoadedLuaFileText(after)) +
         ": install this bgctl's nginx/lua/bgctl.lua where lua_package_path "
         "points";
  return SwitchOutcome::kRejected;
}

SwitchOutcome LuaSwitch::Install(const TrafficSplit& split,
                                 const ControlKey& key, std::string* err) {
  const std::string& path = cfg_.upstream_file;
  std::string previous;
  bool had_previous = env_.fs->Exists(path);
  if (had_previous && !env_.fs->ReadFile(path, &previous, err))
    return SwitchOutcome::kRejected;
  std::string text = RenderLuaUpstream(cfg_.upstream_name, split, cfg_.lua, key,
                                       allowed_, cfg_.upstream_keepalive);
  if (!env_.fs->WriteFileAtomic(path, text, err))
    return SwitchOutcome::kRejected;
  Failpoint("upstream-written");

  const LuaSwitchConfig& c = cfg_.lua;
  const std::string line = LuaSplitLine(split, c, key);
  std::map<std::string, std::string> headers = {{"X-Bgctl-Key", key.key}};
  if (split.takeover) headers["X-Bgctl-Takeover"] = "1";
  HttpResponse pushed;
  PostFailure failure = PostFailure::kNoAnswer;
  std::string push_err;
  const bool answered =
      post_->Post(c.control_host, c.control_port, c.control_path, line, headers,
                  timeout_ms_, &pushed, &failure, &push_err);
  Failpoint("split-pushed");
  std::string served, read_err;
  const bool read = ReadServed(&served, &read_err);
  if (read && served == line) return SwitchOutcome::kConfirmed;
  if (answered && pushed.status == 200) {
    uint64_t got = 0;
    std::string what =
        !read ? read_err
        : GenerationOf(served, &got)
            ? "control answered generation " + std::to_string(got)
            : "control answered \"" + Short(served) + "\"";
    *err = "nginx lua split not confirmed: " + what + ", expected " +
           std::to_string(split.generation);
    return SwitchOutcome::kUnknown;
  }
  // The push failed: the file nginx loads next must not name a split
  // nginx may never have taken. A refusal (or a 5xx while nginx answers
  // another split) and a refused connection leave what nginx served.
  *err = answered
             ? "nginx refused the split: HTTP " +
                   std::to_string(pushed.status) + ": " + Short(pushed.body)
             : "nginx lua push failed: " + push_err;
  const bool not_taken =
      answered ? pushed.status < 500 || read : failure == PostFailure::kNotSent;
  if (!RestoreUpstreamFile(env_.fs, path, had_previous, previous, err))
    return SwitchOutcome::kUnknown;
  return not_taken ? SwitchOutcome::kRejected : SwitchOutcome::kUnknown;
}

bool LuaSwitch::ServedGeneration(uint64_t* generation, std::string* err) {
  std::string line;
  if (!ReadServed(&line, err)) return false;
  if (GenerationOf(line, generation)) return true;
  *err = ControlUrl() + ": answered \"" + Short(line) + "\", not a split";
  return false;
}

bool LuaSwitch::TakeoverFloor(uint64_t served, uint64_t* floor,
                              std::string* err) {
  Answer a;
  uint64_t file = 0;
  if (Get(&a, err) && a.status == 200 && ParseDecimal(a.generation, &file)) {
    *floor = file;
    return true;
  }
  return TrafficSwitch::TakeoverFloor(served, floor, err);
}

bool LuaSwitch::ReadServed(std::string* line, std::string* err) {
  Answer a;
  if (!Get(&a, err)) return false;
  if (a.status != 200) {
    *err = ControlUrl() + ": answered HTTP " + std::to_string(a.status) + ": " +
           Short(a.body);
    return false;
  }
  *line = a.body;
  return true;
}

}  // namespace bgctl
