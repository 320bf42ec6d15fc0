// LuaSwitch (nginx.switch: lua) on the fakes of fake_env.h: the upstream
// file written, the split pushed with the control key and read back, how it
// fails, and the migration of a loaded file the switch cannot push to (the
// one case where it tests and reloads nginx).
#include "controller/lua_switch.h"

#include <catch2/catch.hpp>
#include <deque>

#include "controller/control_key.h"
#include "controller/fake_env.h"
#include "controller/lua_upstream.h"
#include "controller/rollout_harness.h"
#include "controller/text.h"
#include "controller/upstream_file.h"

namespace bgctl {
namespace {

using fake::FakeClock;
using fake::FakeFileSystem;
using fake::FakeHttpProbe;
using fake::FakeNginx;
using fake::FakeProcessRunner;
using Answer = FakeHttpProbe::Answer;

const char kUpstreamFile[] = "/srv/demo/nginx/run/upstream.conf";
const char kStateDir[] = "/srv/demo/state";
const char kKeyFile[] = "/srv/demo/state/control.key";
const char kControl[] = "/__bgctl/split";
const char kOldFile[] = "# written by bgctl, generation 6; do not edit\n";
const std::string kKey(64, 'a');

// The control line of an upstream file's text ("" when it has none).
std::string ControlLineOf(const std::string& text) {
  const std::string open = "map $host $bgctl_control {\n    default \"";
  size_t at = text.find(open);
  if (at == std::string::npos) return "";
  at += open.size();
  return text.substr(at, text.find('"', at) - at);
}

// nginx with bgctl.lua as the fakes play it: nginx runs `loaded` (a
// FakeNginx: the test and reload commands, the probe); the control
// location answers GET with `served` and, as bgctl.lua does, 409 when the
// loaded file has no $bgctl_split, and headers describing the loaded file;
// a push is answered from `push_answers` (200 with the line pushed unless
// scripted).
Config MakeConfig() {
  Config cfg = rollout_testing::TestConfig("/srv/demo");
  cfg.state_dir = kStateDir;
  NginxConfig& n = cfg.nginx;
  n.switch_kind = SwitchKind::kLua;
  n.upstream_file = kUpstreamFile;
  n.upstream_name = "demo_backend";
  n.lua.control_url = "http://127.0.0.1:8080/__bgctl/split";
  n.lua.control_host = "127.0.0.1";
  n.lua.control_port = 8080;
  n.lua.control_path = kControl;
  return cfg;
}

struct Harness {
  Harness() {
    fs.files[kKeyFile] = kKey + "\n";
    // nginx runs the lua file of this key (as after a first deploy).
    nginx.Serve(RenderLuaServersUpstream("demo_backend", {{8081, 100}}, 6, key,
                                         ServiceEndpoints(cfg)),
                6);
    fs.files[kUpstreamFile] = kOldFile;
    http.RoutePost(
        8080, kControl,
        [this](const std::string& body, HttpResponse* out, std::string* err) {
          file_at_push = fs.Contents(kUpstreamFile);
          if (push_answers.empty()) {
            out->status = 200;
            served = out->body = body;
            return true;
          }
          Answer a = push_answers.front();
          push_answers.pop_front();
          if (!a.ok) *err = a.body;
          out->status = a.status;
          out->body = a.body;
          return a.ok;
        });
    http.Route(8080, kControl, [this](HttpResponse* out, std::string*) {
      const std::string& loaded = nginx.served_text;
      out->headers = {{"x-bgctl-protocol", "2"}};
      if (loaded.find("$bgctl_split") == std::string::npos) {
        out->status = 409;
        out->body =
            "refused: nginx's loaded upstream file has no $bgctl_split\n";
        return true;
      }
      const std::string control = ControlLineOf(loaded);
      out->headers["x-bgctl-file-control"] =
          control.empty() ? "none" : Sha1Hex(control);
      out->headers["x-bgctl-file-generation"] = file_generation;
      out->status = 200;
      out->body = served + "\n";
      return true;
    });
  }
  LuaSwitch Make() {
    LuaSwitch sw(cfg, Env{&clock, &fs, &runner, &http}, &http);
    sw.reload()->set_socket_inspector(nullptr);
    sw.reload()->set_settle_ms(0);
    return sw;
  }
  std::vector<std::string> Methods() const {
    std::vector<std::string> out;
    for (const auto& c : http.calls())
      if (c.path == kControl) out.push_back(c.method);
    return out;
  }
  const FakeHttpProbe::Call& LastPost() const {
    for (auto it = http.calls().rbegin(); it != http.calls().rend(); ++it)
      if (it->method == "POST") return *it;
    return http.calls().front();
  }

  Config cfg = MakeConfig();
  ControlKey key = ControlKeyOf(kKey);
  FakeClock clock;
  FakeFileSystem fs{&clock};
  FakeProcessRunner runner{&clock};
  FakeHttpProbe http{&clock};
  FakeNginx nginx{cfg.nginx, &clock, &fs, &runner, &http};
  std::deque<Answer> push_answers;
  std::string served = "none";
  std::string file_generation = "6";
  std::string file_at_push;
};

TrafficSplit TenPercent(uint64_t generation = 7) {
  TrafficSplit s;
  s.stable = {{"127.0.0.1", 8081}};
  s.canary = {{"127.0.0.1", 8082}};
  s.canary_weight = 10;
  s.generation = generation;
  s.rollout_id = "d-17";
  return s;
}

const char kTenPercentLine[] =
    "gen=7;w=10;id=d-17;stable=127.0.0.1:8081;canary=127.0.0.1:8082;"
    "preview=;pvh=;sticky=";

std::string TenPercentFile(const Harness& h) {
  return RenderLuaUpstream("demo_backend", TenPercent(), h.cfg.nginx.lua, h.key,
                           ServiceEndpoints(h.cfg));
}

TEST_CASE(
    "a split is written, pushed with the control key, read back and "
    "confirmed without a reload",
    "[lua_switch]") {
  Harness h;
  LuaSwitch sw = h.Make();
  SwitchResult r = sw.Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kConfirmed);
  CHECK(r.confirmed_by == "exact");
  CHECK(r.error.empty());
  CHECK(r.note.empty());
  CHECK(h.fs.Contents(kUpstreamFile) == TenPercentFile(h));
  CHECK(h.file_at_push == TenPercentFile(h));  // the file first, then the push
  CHECK(h.Methods() == std::vector<std::string>{"GET", "POST", "GET"});
  CHECK(h.LastPost().body == kTenPercentLine);
  CHECK(h.LastPost().headers ==
        std::map<std::string, std::string>{{"X-Bgctl-Key", kKey}});
  CHECK(h.runner.runs().empty());
  // The file carries the key's hash, never the key.
  CHECK(h.fs.Contents(kUpstreamFile).find(kKey) == std::string::npos);
  CHECK(h.fs.Contents(kUpstreamFile).find(h.key.hash) != std::string::npos);
  uint64_t served = 0;
  std::string err;
  REQUIRE(sw.ServedGeneration(&served, &err));
  CHECK(served == 7);
}

TEST_CASE("a push nginx refuses is rejected and the previous file is back",
          "[lua_switch]") {
  Harness h;
  h.push_answers.push_back(
      {true, 409,
       "refused: generation 7 is older than the served generation 9"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx refused the split: HTTP 409: refused: generation 7 is older "
        "than the served generation 9");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
}

TEST_CASE("a refused push with no previous file removes the new one",
          "[lua_switch]") {
  Harness h;
  h.fs.files.erase(kUpstreamFile);
  h.push_answers.push_back({true, 403, "<html>403 Forbidden</html>"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx refused the split: HTTP 403: <html>403 Forbidden</html>");
  CHECK_FALSE(h.fs.Exists(kUpstreamFile));
}

TEST_CASE("a refused push whose file cannot be put back is unknown",
          "[lua_switch]") {
  Harness h;
  h.http.RoutePost(8080, kControl,
                   [&h](const std::string&, HttpResponse* out, std::string*) {
                     h.fs.Fail(kUpstreamFile);
                     out->status = 409;
                     out->body = "refused";
                     return true;
                   });
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error == "nginx refused the split: HTTP 409: refused; restoring " +
                       std::string(kUpstreamFile) +
                       " failed too: cannot write " + kUpstreamFile +
                       ": Input/output error");
}

TEST_CASE(
    "a push with no answer is unknown and the file that served before is "
    "back",
    "[lua_switch]") {
  Harness h;
  h.push_answers.push_back(
      {false, 0, "POST http://127.0.0.1:8080/__bgctl/split: timed out"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error ==
        "nginx lua push failed: POST http://127.0.0.1:8080/__bgctl/split: "
        "timed out");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
}

TEST_CASE(
    "a push nobody receives is rejected and the file that served before is "
    "back",
    "[lua_switch]") {
  Harness h;
  h.http.UnroutePost(8080, kControl);
  h.http.Unroute(8080, kControl);
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx lua push failed: POST http://127.0.0.1:8080/__bgctl/split: "
        "connection refused");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
}

TEST_CASE(
    "a push answered 500 while nginx serves another split is rejected and "
    "the previous file is back",
    "[lua_switch]") {
  Harness h;
  h.push_answers.push_back({true, 500, "refused: no lua_shared_dict bgctl"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx refused the split: HTTP 500: refused: no lua_shared_dict "
        "bgctl");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
}

TEST_CASE("a push lost on the way but served is confirmed by the read-back",
          "[lua_switch]") {
  Harness h;
  h.push_answers.push_back({false, 0, "POST ...: timed out after 2000ms"});
  h.served = kTenPercentLine;
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kConfirmed);
  CHECK(h.fs.Contents(kUpstreamFile) == TenPercentFile(h));
}

TEST_CASE("a read-back naming another generation is unknown", "[lua_switch]") {
  Harness h;
  h.push_answers.push_back({true, 200, kTenPercentLine});
  h.served =
      "gen=6;w=0;id=;stable=127.0.0.1:8081;canary=;preview=;pvh=;sticky=";
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error ==
        "nginx lua split not confirmed: control answered generation 6, "
        "expected 7");
  CHECK(h.fs.Contents(kUpstreamFile) == TenPercentFile(h));
}

TEST_CASE(
    "a split the Lua code could not read is rejected before anything "
    "is written",
    "[lua_switch]") {
  Harness h;
  TrafficSplit s = TenPercent();
  s.rollout_id = "d 17;w=100";
  SwitchResult r = h.Make().Apply(s);
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "invalid split: rollout id \"d 17;w=100\" (use 1-64 characters of "
        "A-Z a-z 0-9 . _ -)");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
  CHECK(h.http.calls().empty());
  s = TenPercent();
  s.canary = {{"127.0.0.1", 0}};
  s.canary_weight = 0;  // not in the upstream's servers, still checked
  CHECK(h.Make().Apply(s).outcome == SwitchOutcome::kRejected);
  CHECK(h.http.calls().empty());
}

TEST_CASE(
    "the served generation is 0 before any split and an error for "
    "an nginx without the lua upstream file",
    "[lua_switch]") {
  Harness h;
  uint64_t g = 99;
  std::string err;
  REQUIRE(h.Make().ServedGeneration(&g, &err));
  CHECK(g == 0);
  h.nginx.served_text = kOldFile;
  CHECK_FALSE(h.Make().ServedGeneration(&g, &err));
  CHECK(err ==
        "nginx lua control http://127.0.0.1:8080/__bgctl/split: answered "
        "HTTP 409: refused: nginx's loaded upstream file has no "
        "$bgctl_split");
}

TEST_CASE(
    "inspecting nginx says what it loaded, and fails for a control URL "
    "that answers as something other than bgctl.lua",
    "[lua_switch]") {
  Harness h;
  LuaSwitch sw = h.Make();
  LoadedLuaFile kind;
  std::string err;
  REQUIRE(sw.Inspect(h.key, &kind, &err));
  CHECK(kind == LoadedLuaFile::kReady);
  REQUIRE(sw.Inspect(ControlKeyOf(std::string(64, 'c')), &kind, &err));
  CHECK(kind == LoadedLuaFile::kOtherControl);
  h.nginx.served_text = kOldFile;
  REQUIRE(sw.Inspect(h.key, &kind, &err));
  CHECK(kind == LoadedLuaFile::kNotLua);
  h.http.Route(8080, kControl, [](HttpResponse* out, std::string*) {
    out->status = 200;
    out->body = "<html>welcome</html>";
    return true;
  });
  CHECK_FALSE(sw.Inspect(h.key, &kind, &err));
  CHECK(err ==
        "nginx lua control http://127.0.0.1:8080/__bgctl/split: answered HTTP "
        "200 \"<html>welcome</html>\", not as bgctl.lua's control location "
        "does");
  h.http.Statuses(8080, kControl, {404});
  CHECK_FALSE(sw.Inspect(h.key, &kind, &err));
  CHECK(err ==
        "nginx lua control http://127.0.0.1:8080/__bgctl/split: answered HTTP "
        "404: ");
  h.http.Route(8080, kControl, [](HttpResponse* out, std::string*) {
    out->status = 200;
    out->body = "none\n";  // bgctl.lua from before control keys
    return true;
  });
  REQUIRE(sw.Inspect(h.key, &kind, &err));
  CHECK(kind == LoadedLuaFile::kOldModule);
}

TEST_CASE(
    "a reload switch's file in nginx is migrated with one confirmed reload "
    "that keeps its servers, then the split is pushed",
    "[lua_switch]") {
  Harness h;
  const std::string reload_file =
      RenderUpstream("demo_backend", {{8081, 100}}, 6);
  h.nginx.Serve(reload_file, 6);
  h.fs.files.erase(kKeyFile);  // the first switch to lua makes the key
  SwitchResult r = h.Make().Apply(TenPercent());
  INFO(r.error);
  REQUIRE(r.outcome == SwitchOutcome::kConfirmed);
  ControlKey made;
  std::string err;
  REQUIRE(LoadControlKey(&h.fs, kStateDir, &made, &err));
  REQUIRE(h.nginx.reloads.size() == 1);
  CHECK(h.nginx.reloads[0].text ==
        RenderLuaServersUpstream("demo_backend", {{8081, 100}}, 7, made,
                                 ServiceEndpoints(h.cfg)));
  CHECK(h.nginx.reloads[0].took_effect);
  CHECK(h.nginx.tested.size() == 1);
  CHECK(r.note ==
        "nginx's loaded upstream file was not written for the lua switch (no "
        "$bgctl_split: the reload switch's file, or one from before bgctl): "
        "migrated with one confirmed reload (generation 7, 0 ms), keeping "
        "the servers it had");
  // The push came after the reload, with the new key.
  CHECK(h.Methods() == std::vector<std::string>{"GET", "GET", "POST", "GET"});
  CHECK(h.LastPost().headers.at("X-Bgctl-Key") == made.key);
  CHECK(h.fs.Contents(kUpstreamFile) ==
        RenderLuaUpstream("demo_backend", TenPercent(), h.cfg.nginx.lua, made,
                          ServiceEndpoints(h.cfg)));
}

TEST_CASE(
    "a placeholder in nginx, which served nothing, is migrated straight to "
    "the new split",
    "[lua_switch]") {
  Harness h;
  h.nginx.Serve(RenderLuaPlaceholderUpstream("demo_backend", 8081), 0);
  SwitchResult r = h.Make().Apply(TenPercent());
  INFO(r.error);
  REQUIRE(r.outcome == SwitchOutcome::kConfirmed);
  REQUIRE(h.nginx.reloads.size() == 1);
  CHECK(h.nginx.reloads[0].text == TenPercentFile(h));
  CHECK(r.note.find("carries no control key") != std::string::npos);
  CHECK(r.note.find("with the new split") != std::string::npos);
}

TEST_CASE(
    "a loaded file with another key is migrated and one with this key is "
    "not",
    "[lua_switch]") {
  Harness h;
  ControlKey other = ControlKeyOf(std::string(64, 'c'));
  h.nginx.Serve(RenderLuaServersUpstream("demo_backend", {{8081, 100}}, 6,
                                         other, ServiceEndpoints(h.cfg)),
                6);
  h.fs.files[kUpstreamFile] = h.nginx.served_text;
  LuaSwitch sw = h.Make();
  REQUIRE(sw.Apply(TenPercent()).outcome == SwitchOutcome::kConfirmed);
  CHECK(h.nginx.reloads.size() == 1);
  CHECK(ControlLineOf(h.nginx.served_text) ==
        LuaControlLine(h.key, ServiceEndpoints(h.cfg)));
  REQUIRE(sw.Apply(TenPercent(8)).outcome == SwitchOutcome::kConfirmed);
  CHECK(h.nginx.reloads.size() == 1);
}

TEST_CASE(
    "a missing control key while nginx's loaded file carries one is an "
    "error naming the file, and nothing is written or pushed",
    "[lua_switch]") {
  Harness h;
  h.fs.files.erase(kKeyFile);
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "control key /srv/demo/state/control.key: cannot read "
        "/srv/demo/state/control.key: No such file or directory (nginx's "
        "loaded upstream file carries a control key, so bgctl never pushes "
        "without it; `bgctl rotate-key` writes a new key and migrates nginx "
        "with one confirmed reload)");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
  CHECK(h.Methods() == std::vector<std::string>{"GET"});
  CHECK_FALSE(h.fs.Exists(kKeyFile));
}

TEST_CASE(
    "a takeover split is pushed flagged, and may go down to the loaded "
    "file's generation",
    "[lua_switch]") {
  Harness h;
  h.served =
      "gen=18446744073709551615;w=100;id=x;stable=;canary=127.0.0.1:"
      "8082;preview=;pvh=;sticky=";
  LuaSwitch sw = h.Make();
  uint64_t floor = 0;
  std::string err;
  REQUIRE(sw.TakeoverFloor(18446744073709551615ull, &floor, &err));
  CHECK(floor == 6);
  TrafficSplit s = TenPercent();
  s.takeover = true;
  REQUIRE(sw.Apply(s).outcome == SwitchOutcome::kConfirmed);
  CHECK(h.LastPost().headers.at("X-Bgctl-Takeover") == "1");
}

TEST_CASE(
    "with the preview header on the split carries the hash of the "
    "rollout's token, which is kept in a 0600 file",
    "[lua_switch]") {
  Harness h;
  h.cfg.nginx.lua.preview_header = "X-Canary";
  REQUIRE(h.Make().Apply(TenPercent()).outcome == SwitchOutcome::kConfirmed);
  const std::string token = PreviewToken(h.key, "d-17");
  CHECK(token.size() == 40);
  CHECK(h.LastPost().body ==
        "gen=7;w=10;id=d-17;stable=127.0.0.1:8081;canary=127.0.0.1:8082;"
        "preview=X-Canary;pvh=" +
            Sha1Hex(token) + ";sticky=");
  REQUIRE(h.fs.WritesTo(PreviewTokenPath(kStateDir)) ==
          std::vector<std::string>{token + "\n"});
  for (const auto& w : h.fs.writes())
    if (w.path == PreviewTokenPath(kStateDir)) CHECK(w.mode == 0600);
  CHECK(h.LastPost().body.find(token) == std::string::npos);
}

TEST_CASE("generations are read exactly up to 2^64-1 and never past it",
          "[lua_switch]") {
  uint64_t g = 0;
  REQUIRE(ParseDecimal("18446744073709551615", &g));
  CHECK(g == UINT64_MAX);
  REQUIRE(ParseDecimal("9007199254740993", &g));
  CHECK(g == 9007199254740993ull);
  CHECK_FALSE(ParseDecimal("18446744073709551616", &g));
  CHECK_FALSE(ParseDecimal("99999999999999999999", &g));
  CHECK_FALSE(ParseDecimal("184467440737095516150", &g));
}

TEST_CASE(
    "the split line names every endpoint, the weight served and the "
    "routing names",
    "[lua_switch]") {
  LuaSwitchConfig lua;
  lua.sticky_cookie = "bgctl_canary";
  lua.preview_header = "X-Canary";
  const ControlKey key = ControlKeyOf(kKey);
  TrafficSplit s = TenPercent(12);
  s.stable.push_back({"::1", 9001});
  CHECK(LuaSplitLine(s, lua, key) ==
        "gen=12;w=10;id=d-17;stable=127.0.0.1:8081,[::1]:9001;"
        "canary=127.0.0.1:8082;preview=X-Canary;pvh=" +
            Sha1Hex(PreviewToken(key, "d-17")) + ";sticky=bgctl_canary");
  s.canary.clear();
  s.rollout_id.clear();
  lua.preview_header.clear();
  CHECK(LuaSplitLine(s, lua, key) ==
        "gen=12;w=0;id=;stable=127.0.0.1:8081,[::1]:9001;canary=;preview=;"
        "pvh=;sticky=bgctl_canary");
}

TEST_CASE(
    "the lua upstream file is the reload switch's with the balancer, the "
    "split map and the control map",
    "[lua_switch]") {
  LuaSwitchConfig lua;
  const ControlKey key = ControlKeyOf(kKey);
  std::string text = RenderLuaUpstream("demo_backend", TenPercent(), lua, key,
                                       {{"127.0.0.1", 8081}, {"::1", 8082}});
  std::string plain =
      RenderUpstream("demo_backend", ServersFor(TenPercent()), 7);
  std::string open = "upstream demo_backend {\n";
  std::string expected = plain;
  expected.insert(
      expected.find(open) + open.size(),
      "    balancer_by_lua_block { require(\"bgctl\").balance() }\n");
  expected +=
      "map $host $bgctl_split {\n    default \"" +
      std::string(kTenPercentLine) +
      "\";\n}\nmap $host $bgctl_control {\n    default \"key=" + Sha1Hex(kKey) +
      ";allow=127.0.0.1:8081,[::1]:8082\";\n}\n";
  CHECK(text == expected);
  UpstreamFileContents parsed;
  std::string err;
  REQUIRE(ParseUpstreamFile(text, "demo_backend", &parsed, &err));
  CHECK(parsed.generation == 7);
  REQUIRE(parsed.servers.size() == 2);
  CHECK(parsed.servers[1].port == 8082);
  CHECK(parsed.servers[1].weight == 10);
}

}  // namespace
}  // namespace bgctl
