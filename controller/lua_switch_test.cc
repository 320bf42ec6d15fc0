// LuaSwitch (nginx.switch: lua) on the fakes of fake_env.h: the upstream
// file written, the split pushed and read back, and how it fails. No
// command ever runs: the lua switch never tests or reloads nginx.
#include "controller/lua_switch.h"

#include <catch2/catch.hpp>
#include <deque>

#include "controller/fake_env.h"
#include "controller/lua_upstream.h"
#include "controller/upstream_file.h"

namespace bgctl {
namespace {

using fake::FakeClock;
using fake::FakeFileSystem;
using fake::FakeHttpProbe;
using fake::FakeProcessRunner;
using Answer = FakeHttpProbe::Answer;

const char kUpstreamFile[] = "/srv/demo/nginx/run/upstream.conf";
const char kControl[] = "/__bgctl/split";
const char kOldFile[] = "# written by bgctl, generation 6; do not edit\n";

// The control location as bgctl.lua plays it: a push is answered from
// `push_answers` (200 with the line pushed unless scripted), and GET from
// `served` (the last 200 push, or what the test sets).
struct Harness {
  Harness() {
    cfg.upstream_file = kUpstreamFile;
    cfg.upstream_name = "demo_backend";
    cfg.lua.control_url = "http://127.0.0.1:8080/__bgctl/split";
    cfg.lua.control_host = "127.0.0.1";
    cfg.lua.control_port = 8080;
    cfg.lua.control_path = kControl;
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
      out->status = 200;
      out->body = served + "\n";
      return true;
    });
  }
  LuaSwitch Make() {
    return LuaSwitch(cfg, Env{&clock, &fs, &runner, &http}, &http);
  }
  std::vector<std::string> Methods() const {
    std::vector<std::string> out;
    for (const auto& c : http.calls()) out.push_back(c.method);
    return out;
  }

  NginxConfig cfg;
  FakeClock clock;
  FakeFileSystem fs{&clock};
  FakeProcessRunner runner{&clock};
  FakeHttpProbe http;
  std::deque<Answer> push_answers;
  std::string served = "none";
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
    "preview=X-Canary;sticky=";

TEST_CASE(
    "a split is written, pushed, read back and confirmed without a "
    "reload",
    "[lua_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = kOldFile;
  LuaSwitch sw = h.Make();
  SwitchResult r = sw.Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kConfirmed);
  CHECK(r.confirmed_by == "exact");
  CHECK(r.error.empty());
  std::string file = RenderLuaUpstream("demo_backend", TenPercent(), h.cfg.lua);
  CHECK(h.fs.Contents(kUpstreamFile) == file);
  CHECK(h.file_at_push == file);  // the file first, then the push
  CHECK(h.Methods() == std::vector<std::string>{"POST", "GET"});
  CHECK(h.http.calls()[0].body == kTenPercentLine);
  CHECK(h.runner.runs().empty());
  uint64_t served = 0;
  std::string err;
  REQUIRE(sw.ServedGeneration(&served, &err));
  CHECK(served == 7);
}

TEST_CASE("a push nginx refuses is rejected and the previous file is back",
          "[lua_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = kOldFile;
  h.push_answers.push_back(
      {true, 409,
       "refused: generation 7 is older than the served generation 9"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx refused the split: HTTP 409: refused: generation 7 is older "
        "than the served generation 9");
  CHECK(h.fs.Contents(kUpstreamFile) == kOldFile);
  CHECK(h.Methods() == std::vector<std::string>{"POST"});
}

TEST_CASE("a refused push with no previous file removes the new one",
          "[lua_switch]") {
  Harness h;
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
  h.fs.files[kUpstreamFile] = kOldFile;
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

TEST_CASE("a push with no answer is unknown and the new file stays",
          "[lua_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = kOldFile;
  h.push_answers.push_back(
      {false, 0,
       "POST http://127.0.0.1:8080/__bgctl/split: Connection refused"});
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error ==
        "nginx lua push failed: POST http://127.0.0.1:8080/__bgctl/split: "
        "Connection refused");
  CHECK(h.fs.Contents(kUpstreamFile) ==
        RenderLuaUpstream("demo_backend", TenPercent(), h.cfg.lua));
}

TEST_CASE("a push lost on the way but served is confirmed by the read-back",
          "[lua_switch]") {
  Harness h;
  h.push_answers.push_back({false, 0, "POST ...: timed out after 2000ms"});
  h.served = kTenPercentLine;
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kConfirmed);
}

TEST_CASE("a read-back naming another generation is unknown", "[lua_switch]") {
  Harness h;
  h.push_answers.push_back({true, 200, kTenPercentLine});
  h.served =
      "gen=6;w=0;id=;stable=127.0.0.1:8081;canary=;preview=X-Canary;sticky=";
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error ==
        "nginx lua split not confirmed: control answered generation 6, "
        "expected 7");
}

TEST_CASE("a read-back that fails is unknown", "[lua_switch]") {
  Harness h;
  h.http.Unroute(8080, kControl);
  SwitchResult r = h.Make().Apply(TenPercent());
  CHECK(r.outcome == SwitchOutcome::kUnknown);
  CHECK(r.error ==
        "nginx lua split not confirmed: nginx lua control "
        "http://127.0.0.1:8080/__bgctl/split: GET "
        "http://127.0.0.1:8080/__bgctl/split: connection refused, expected 7");
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
  CHECK_FALSE(h.fs.Exists(kUpstreamFile));
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
  h.http.Statuses(8080, kControl, {409});
  CHECK_FALSE(h.Make().ServedGeneration(&g, &err));
  CHECK(err ==
        "nginx lua control http://127.0.0.1:8080/__bgctl/split: answered "
        "HTTP 409: ");
}

TEST_CASE(
    "the split line names every endpoint, the weight served and the "
    "routing names",
    "[lua_switch]") {
  LuaSwitchConfig lua;
  lua.sticky_cookie = "bgctl_canary";
  TrafficSplit s = TenPercent(12);
  s.stable.push_back({"::1", 9001});
  CHECK(LuaSplitLine(s, lua) ==
        "gen=12;w=10;id=d-17;stable=127.0.0.1:8081,[::1]:9001;"
        "canary=127.0.0.1:8082;preview=X-Canary;sticky=bgctl_canary");
  s.canary.clear();
  s.rollout_id.clear();
  lua.preview_header.clear();
  CHECK(LuaSplitLine(s, lua) ==
        "gen=12;w=0;id=;stable=127.0.0.1:8081,[::1]:9001;canary=;preview=;"
        "sticky=bgctl_canary");
}

TEST_CASE(
    "the lua upstream file is the reload switch's with the balancer "
    "and the split map",
    "[lua_switch]") {
  LuaSwitchConfig lua;
  std::string text = RenderLuaUpstream("demo_backend", TenPercent(), lua);
  std::string plain =
      RenderUpstream("demo_backend", ServersFor(TenPercent()), 7);
  std::string open = "upstream demo_backend {\n";
  std::string expected = plain;
  expected.insert(
      expected.find(open) + open.size(),
      "    balancer_by_lua_block { require(\"bgctl\").balance() }\n");
  expected += "map $host $bgctl_split {\n    default \"" +
              std::string(kTenPercentLine) + "\";\n}\n";
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
