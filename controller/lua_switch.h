// nginx.switch: lua, the traffic switch that never reloads nginx: it writes
// the upstream file (lua_upstream.h; what nginx serves at its next start or
// reload), pushes the same split into nginx's lua_shared_dict through the
// loopback-only control location (nginx.lua.control_url, served by
// nginx/lua/bgctl.lua) with the service's control key (control_key.h), and
// reads it back over a new connection. Needs nginx's Lua module and the
// lines nginx/README.md lists. All side effects go through env.h.
#ifndef BGCTL_CONTROLLER_LUA_SWITCH_H_
#define BGCTL_CONTROLLER_LUA_SWITCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/control_key.h"
#include "controller/env.h"
#include "controller/http_post.h"
#include "controller/reload_switch.h"
#include "controller/traffic_switch.h"

namespace bgctl {

// What nginx's loaded upstream file is, for the lua switch (as the control
// location describes it).
enum class LoadedLuaFile {
  kReady,         // a lua file with this service's key and instances
  kNotLua,        // no $bgctl_split: the reload switch's file, or init's
  kNoControl,     // a lua file without a control key (a placeholder, or a
                  // file from before control keys)
  kOtherControl,  // another key or other instances (a rotated key, other
                  // slot ports)
  kOldModule,     // nginx runs a bgctl.lua from before control keys
};

// "was not written for the lua switch ...", for messages.
const char* LoadedLuaFileText(LoadedLuaFile kind);

// Keeps pointers from `env` and `post` (the push); copies what it needs of
// `config`: nginx's keys, state_dir (the control key), the slots (the
// endpoints a split may name) and the folder the nginx commands run in.
class LuaSwitch : public TrafficSwitch {
 public:
  LuaSwitch(const Config& config, Env env, HttpPoster* post);

  const char* Name() const override { return "lua"; }
  // The preview header and the sticky cookie pin requests.
  bool PinsRequests() const override { return true; }
  // Makes nginx serve `split` (generation split.generation):
  //  1. checks it (CheckLuaSplit): kRejected before anything is written;
  //  2. asks the control location what nginx loaded (Inspect; the answer
  //     of a GET made up to 1 s before, such as ServedGeneration's, is
  //     used again) and takes
  //     the control key: LoadControlKey when the loaded file carries one
  //     (missing or unreadable: kRejected with an error naming the file;
  //     never a push without it), LoadOrCreateControlKey otherwise;
  //  3. when the loaded file is not kReady, migrates it: one confirmed
  //     reload (ReloadSwitch::ApplyText) of RenderLuaServersUpstream with
  //     the servers the upstream file on disk has now, as generation
  //     split.generation (a file with no live server, the placeholder,
  //     gets RenderLuaUpstream(split) at once: nothing served before);
  //     result.note says so. A failed migration returns the reload's
  //     outcome; a loaded file still not kReady after it (an old bgctl.lua
  //     on disk) is kRejected, the file keeping today's servers;
  //  4. writes the upstream file atomically (RenderLuaUpstream);
  //  5. POSTs LuaSplitLine(split) to the control URL with X-Bgctl-Key
  //     (and X-Bgctl-Takeover: 1 for split.takeover);
  //  6. reads the split served back (GET over a new connection); kConfirmed
  //     (confirmed_by "exact") when it is exactly the line pushed, even if
  //     the answer to the push was lost; with the preview header on and a
  //     canary, state_dir/preview.token then holds the rollout's token.
  // Otherwise, when the push did not succeed, the previous file is put back
  // byte for byte (or removed when there was none), whatever the failure:
  // kRejected when nginx cannot have taken the split (it answered and
  // refused: "nginx refused the split: HTTP 409: <nginx's answer>"; or the
  // connection was refused: "nginx lua push failed: E"), kUnknown when it
  // may have (no complete answer; or the file could not be put back).
  // A push answered 200 whose read-back names another split is kUnknown
  // with the new file in place ("nginx lua split not confirmed: control
  // answered generation G, expected N").
  SwitchResult Apply(const TrafficSplit& split) override;
  // The generation of the split nginx serves now (0 before any), from the
  // control URL. False with *err when it cannot be reached or answers
  // anything else.
  bool ServedGeneration(uint64_t* generation, std::string* err) override;
  // The loaded upstream file's generation: a takeover may replace a split
  // of any generation in the shared dict, never the file's.
  bool TakeoverFloor(uint64_t served, uint64_t* floor,
                     std::string* err) override;

  // What nginx's loaded upstream file is for `key` (the service's key).
  // False with *err when the control location does not answer as one
  // ("nginx lua control URL: ..."): no answer, or another status than 200
  // or 409.
  bool Inspect(const ControlKey& key, LoadedLuaFile* kind, std::string* err);

  // False with *err (as Apply's step 2 says it) when nginx's loaded file
  // carries a control key and bgctl's cannot be read: what `deploy`
  // checks before it starts anything. True when nginx does not answer.
  bool CheckKey(std::string* err);

  // The time limit of each push and read-back (default 2000 ms).
  void set_timeout_ms(int64_t ms) { timeout_ms_ = ms; }
  // The reload switch a migration reloads through (its timings).
  ReloadSwitch* reload() { return &reload_; }

 private:
  // One answer of the control location's GET.
  struct Answer {
    int status = 0;
    std::string body;        // trimmed
    std::string control;     // X-Bgctl-File-Control: a hash or "none"
    std::string generation;  // X-Bgctl-File-Generation
    bool protocol = false;   // X-Bgctl-Protocol present
  };
  // One GET of the control URL. False with *err when it got no answer.
  bool Get(Answer* answer, std::string* err);
  // The answer of a GET made at most kReuseMs ago (SwitchTraffic asks
  // ServedGeneration just before Apply: one GET fewer per step), else Get.
  // What nginx loaded changes only with a reload.
  bool GetRecent(Answer* answer, std::string* err);
  // The kind of loaded file `a` describes (status 200 or 409) for `key`.
  LoadedLuaFile Classify(const Answer& a, const ControlKey& key) const;
  // One GET: true with the served line ("none" before any split) when it
  // answered 200; otherwise *err says what it got.
  bool ReadServed(std::string* line, std::string* err);
  // The key to push with, given what nginx loaded (`loaded`, null when
  // the control location did not answer): LoadControlKey when the loaded
  // file carries a key (its error says so), otherwise (with `create`)
  // LoadOrCreateControlKey; without `create` nothing is read then.
  bool KeyFor(const Answer* loaded, bool create, ControlKey* key,
              std::string* err);
  // Steps 2-3 of Apply: *key ready to push with; kConfirmed to go on.
  SwitchOutcome Prepare(const TrafficSplit& split, ControlKey* key,
                        std::string* note, std::string* err);
  // Step 3 of Apply.
  SwitchOutcome Migrate(const TrafficSplit& split, const ControlKey& key,
                        LoadedLuaFile kind, std::string* note,
                        std::string* err);
  // Steps 4-6 of Apply.
  SwitchOutcome Install(const TrafficSplit& split, const ControlKey& key,
                        std::string* err);
  std::string ControlUrl() const;
  // After a confirmed split with a canary: state_dir/preview.token holds
  // the rollout's preview token (mode 0600), for a person to try the
  // canary with; a failed write is added to *note.
  void KeepPreviewToken(const TrafficSplit& split, const ControlKey& key,
                        std::string* note);

  NginxConfig cfg_;
  std::string state_dir_;
  std::vector<Endpoint> allowed_;
  Env env_;
  HttpPoster* post_;
  ReloadSwitch reload_;
  int64_t timeout_ms_ = 2000;
  static constexpr int64_t kReuseMs = 1000;
  Answer last_;              // the last GET's answer
  int64_t last_at_ms_ = -1;  // when (-1: none, or a migration since)
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LUA_SWITCH_H_
