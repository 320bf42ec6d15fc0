// End-to-end: nginx.switch: lua against a real nginx with Debian's Lua
// module (nginx/nginx-lua.conf.template, client keep-alive on), real
// backend-sample processes, the real bgctl and keep-alive load (issue 8).
// Skipped, saying so, where the module is not installed.
#include <httplib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "controller/lua_switch.h"
#include "controller/lua_upstream.h"
#include "tests/support/e2e.h"
#include "tests/support/http_backend.h"
#include "tests/support/load.h"
#include "tests/support/ports.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

ServiceOptions LuaOptions(const std::string& steps) {
  ServiceOptions o;
  o.nginx_switch = "lua";
  o.steps = steps;
  return o;
}

// SteadyLoad with every client on keep-alive (6 threads, 30% POST).
LoadOptions KeepAliveLoad(int port, double rate = 300) {
  LoadOptions o = SteadyLoad(port, rate);
  o.keep_alive_share = 1.0;
  return o;
}

int64_t FileSize(const std::string& path) {
  std::ifstream f(path, std::ios::ate | std::ios::binary);
  return f ? static_cast<int64_t>(f.tellg()) : 0;
}

// Requests in the access log after byte `from`, counted by the port of
// their first upstream ("-" when none was reached).
std::map<std::string, int> UpstreamsSince(const std::string& log,
                                          int64_t from) {
  std::ifstream f(log, std::ios::binary);
  f.seekg(from);
  std::map<std::string, int> counts;
  std::string line;
  while (std::getline(f, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    std::string addr = j.value("upstream_addr", "-");
    std::string first = addr.substr(0, addr.find(','));
    size_t colon = first.rfind(':');
    counts[colon == std::string::npos ? first : first.substr(colon + 1)]++;
  }
  return counts;
}

int Total(const std::map<std::string, int>& counts) {
  int n = 0;
  for (const auto& [port, count] : counts) n += count;
  return n;
}

// UpstreamsSince once the log holds `n` requests after `from` (at most 3 s:
// nginx writes a line after it answered).
std::map<std::string, int> LoggedSince(const std::string& log, int64_t from,
                                       int n) {
  WaitFor([&] { return Total(UpstreamsSince(log, from)) >= n; }, 3000);
  return UpstreamsSince(log, from);
}

// `n` GETs of / through nginx from 4 keep-alive clients; true when all got
// a 2xx.
bool SendExactly(int port, int n) {
  LoadOptions o;
  o.port = port;
  o.threads = 4;
  o.keep_alive_share = 1.0;
  o.max_requests = n;
  o.duration_ms = 30000;
  LoadGenerator load(o);
  load.Start();
  load.Wait(35000);
  LoadReport r = load.Stop();
  return r.sent == n && r.ok == n;
}

// One GET with extra headers over a new connection: the body's version, and
// the Set-Cookie header into *cookie (if non-null).
std::string VersionWith(int port, const httplib::Headers& headers,
                        std::string* cookie = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(false);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  auto res = c.Get("/", headers);
  if (!res) return "";
  if (cookie) *cookie = res->get_header_value("Set-Cookie");
  return VersionOf(res->body);
}

// The lua switch's config for a fixture's nginx (as LoadConfig would), its
// slots on `blue` and `green`, its state (the control key) in `state_dir`.
bgctl::Config LuaConfigOf(const NginxFixture& nginx, int blue, int green,
                          const std::string& state_dir) {
  bgctl::Config cfg;
  cfg.nginx = nginx.MakeConfig("svc");
  cfg.dir = nginx.prefix();
  cfg.state_dir = state_dir;
  cfg.blue_port = blue;
  cfg.green_port = green;
  bgctl::NginxConfig& n = cfg.nginx;
  n.switch_kind = bgctl::SwitchKind::kLua;
  n.lua.control_url = nginx.control_url();
  n.lua.control_host = "127.0.0.1";
  n.lua.control_port = nginx.port();
  n.lua.control_path = "/__bgctl/split";
  return cfg;
}

struct NginxPids {
  pid_t master = 0;
  std::vector<pid_t> workers;
  bool operator==(const NginxPids& o) const {
    return master == o.master && workers == o.workers;
  }
};

NginxPids PidsOf(Service& svc) {
  return {svc.nginx().master_pid(), svc.nginx().WorkerPids()};
}

std::string PortOf(int port) { return std::to_string(port); }

// The switch times of a command's output: "... confirmed (generation N, T ms)".
std::vector<int> SwitchTimes(const std::string& out) {
  std::vector<int> ms;
  std::regex re(R"(confirmed \(generation \d+, (\d+) ms\))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re);
       it != std::sregex_iterator(); ++it)
    ms.push_back(std::stoi((*it)[1]));
  return ms;
}

}  // namespace

TEST_CASE(
    "the lua prefix starts with the lua placeholder, answers 502 with no "
    "split, and the real control location refuses an older generation",
    "[lua_e2e]") {
  REQUIRE_LUA();
  int placeholder_port = PickFreePort();
  NginxFixture nginx;
  std::string err;
  const bool started =
      nginx.Start("svc", placeholder_port, &err, /*lua_switch=*/true);
  INFO(err);
  REQUIRE(started);
  // The script wrote exactly the text the controller renders.
  CHECK(ReadWholeFile(nginx.upstream_file()) ==
        bgctl::RenderLuaPlaceholderUpstream("svc", placeholder_port));
  TempDir state;
  bgctl::LuaSwitch sw(
      LuaConfigOf(nginx, placeholder_port, PickFreePort(), state.path()),
      bgctl::RealEnv(), bgctl::RealHttpPoster());
  uint64_t served = 99;
  REQUIRE(sw.ServedGeneration(&served, &err));
  CHECK(served == 0);
  httplib::Client c("127.0.0.1", nginx.port());
  auto res = c.Get("/");
  REQUIRE(res);
  CHECK(res->status == 502);

  bgctl::TrafficSplit split;
  split.stable = {{"127.0.0.1", placeholder_port}};
  split.generation = 5;
  bgctl::SwitchResult r = sw.Apply(split);
  INFO(r.error);
  CHECK(r.outcome == bgctl::SwitchOutcome::kConfirmed);
  std::string file = ReadWholeFile(nginx.upstream_file());
  split.generation = 4;
  r = sw.Apply(split);
  CHECK(r.outcome == bgctl::SwitchOutcome::kRejected);
  CHECK(r.error ==
        "nginx refused the split: HTTP 409: refused: generation 4 is older "
        "than the served generation 5");
  CHECK(ReadWholeFile(nginx.upstream_file()) == file);
  REQUIRE(sw.ServedGeneration(&served, &err));
  CHECK(served == 5);
}

TEST_CASE(
    "on the lua switch a GET answered 503 is retried once on the other slot "
    "but a POST is not",
    "[lua_e2e]") {
  REQUIRE_LUA();
  HttpBackend failing("F", 503), good("G");
  NginxFixture nginx;
  std::string err;
  const bool started =
      nginx.Start("svc", good.port(), &err, /*lua_switch=*/true);
  INFO(err);
  REQUIRE(started);
  TempDir state;
  bgctl::LuaSwitch sw(
      LuaConfigOf(nginx, failing.port(), good.port(), state.path()),
      bgctl::RealEnv(), bgctl::RealHttpPoster());
  bgctl::TrafficSplit split;
  split.stable = {{"127.0.0.1", failing.port()}};
  split.canary = {{"127.0.0.1", good.port()}};
  split.canary_weight = 50;
  split.generation = 1;
  REQUIRE(sw.Apply(split).outcome == bgctl::SwitchOutcome::kConfirmed);
  // At 50% the weighted requests go stable, canary, stable, ...
  Reply post = Fetch(nginx.port(), "/", "POST");
  CHECK(post.status == 503);
  CHECK(post.body == "F");
  Reply canary = Fetch(nginx.port(), "/");
  CHECK(canary.body == "G");
  Reply retried = Fetch(nginx.port(), "/");
  CHECK(retried.status == 200);
  CHECK(retried.body == "G");

  std::string f = "127.0.0.1:" + std::to_string(failing.port());
  std::string g = "127.0.0.1:" + std::to_string(good.port());
  const std::string log = nginx.access_log_path();
  REQUIRE(WaitFor([&] { return Total(UpstreamsSince(log, 0)) >= 3; }, 3000));
  std::ifstream in(log);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["method"] == "POST");
  CHECK(lines[0]["upstream_addr"] == f);
  CHECK(lines[0]["upstream_status"] == "503");
  CHECK(lines[1]["upstream_addr"] == g);
  CHECK(lines[2]["upstream_addr"] == f + ", " + g);
  CHECK(lines[2]["upstream_status"] == "503, 200");
}

TEST_CASE(
    "on the lua switch a deploy, a rollback and an abort under keep-alive "
    "load fail not one request and never restart an nginx process",
    "[lua_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(&svc, LuaOptions("[{weight: 10, pause: 1s}, {weight: 50, "
                                      "pause: 1s}, {weight: 100}]"));
  std::string paused = svc.WriteConfig(
      "paused.yaml",
      LuaOptions("[{weight: 10, pause: forever}, {weight: 100}]"));
  NginxPids before = PidsOf(svc);
  REQUIRE(before.workers.size() == 2);
  LoadGenerator load(KeepAliveLoad(svc.port()));
  load.Start();
  SleepMs(300);
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  CommandResult r = svc.Bgctl({"rollback"});
  CommandResult d3 = svc.Bgctl({"deploy", "--version", "v3"}, paused);
  SleepMs(300);
  CommandResult a = svc.Bgctl({"abort"}, paused);
  SleepMs(300);
  LoadReport report = load.Stop();
  INFO(d.out << d.err << r.out << r.err << d3.out << d3.err << a.out << a.err
             << Failures(report));
  CHECK(d.exit_code == 0);
  CHECK(r.exit_code == 0);
  CHECK(d3.exit_code == 0);
  CHECK(a.exit_code == 0);
  CHECK(report.sent > 500);
  CHECK(report.errors == 0);
  CHECK(report.non2xx == 0);
  CHECK(report.ok == report.sent);
  CHECK(report.per_version["v2"] > 0);
  CHECK(report.per_version["v3"] > 0);
  CHECK(PidsOf(svc) == before);
  json st = Status(svc);
  CHECK(st["phase"] == "aborted");
  CHECK(st["stable"]["version"] == "v1");
  for (int i = 0; i < 10; ++i) CHECK(VersionOf(svc.Get("/")) == "v1");
  // Every switch was confirmed through the shared dict.
  for (const std::string& out : {d.out, r.out, d3.out, a.out})
    CHECK_FALSE(SwitchTimes(out).empty());
}

TEST_CASE(
    "the lua switch splits exactly: 10% of 1000 requests is 100 on the "
    "canary, 50% is 500",
    "[lua_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(
      &svc, LuaOptions("[{weight: 10, pause: forever}, {weight: 100}]"));
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  const std::string log = svc.nginx().access_log_path();
  int64_t from = FileSize(log);
  REQUIRE(SendExactly(svc.port(), 1000));
  std::map<std::string, int> ten = LoggedSince(log, from, 1000);
  CHECK(ten[PortOf(svc.green())] == 100);
  CHECK(ten[PortOf(svc.blue())] == 900);

  REQUIRE(svc.Bgctl({"set-weight", "50"}).exit_code == 0);
  from = FileSize(log);
  REQUIRE(SendExactly(svc.port(), 1000));
  std::map<std::string, int> half = LoggedSince(log, from, 1000);
  CHECK(half[PortOf(svc.green())] == 500);
  CHECK(half[PortOf(svc.blue())] == 500);
}

TEST_CASE(
    "nginx restarted in the middle of a lua rollout comes back with the "
    "split of the upstream file",
    "[lua_e2e]") {
  REQUIRE_LUA();
  Service svc;
  std::string err;
  RequireStartWithV1(
      &svc, LuaOptions("[{weight: 10, pause: forever}, {weight: 100}]"));
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"set-weight", "30"}).exit_code == 0);
  svc.nginx().Stop();
  REQUIRE(svc.nginx().Restart(&err));
  const std::string log = svc.nginx().access_log_path();
  int64_t from = FileSize(log);
  REQUIRE(SendExactly(svc.port(), 100));
  std::map<std::string, int> after = LoggedSince(log, from, 100);
  CHECK(after[PortOf(svc.green())] == 30);
  CHECK(after[PortOf(svc.blue())] == 70);
  // bgctl goes on from there without noticing.
  CommandResult p = svc.Bgctl({"promote"});
  INFO(p.out << p.err);
  CHECK(p.exit_code == 0);
  for (int i = 0; i < 10; ++i) CHECK(VersionOf(svc.Get("/")) == "v2");
}

TEST_CASE(
    "a sticky cookie keeps its user on the canary across steps and an "
    "abort moves it back",
    "[lua_e2e]") {
  REQUIRE_LUA();
  ServiceOptions o =
      LuaOptions("[{weight: 10, pause: forever}, {weight: 100}]");
  o.lua = "{sticky_cookie: bgctl_canary}";
  Service svc;
  RequireStartWithV1(&svc, o);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  std::string cookie;
  for (int i = 0; i < 50 && cookie.empty(); ++i) {
    std::string set_cookie;
    if (VersionWith(svc.port(), {}, &set_cookie) == "v2") cookie = set_cookie;
  }
  INFO(cookie);
  REQUIRE(cookie.rfind("bgctl_canary=", 0) == 0);
  std::string value = cookie.substr(0, cookie.find(';'));
  for (int i = 0; i < 20; ++i)
    CHECK(VersionWith(svc.port(), {{"Cookie", value}}) == "v2");
  REQUIRE(svc.Bgctl({"set-weight", "20"}).exit_code == 0);
  for (int i = 0; i < 20; ++i)
    CHECK(VersionWith(svc.port(), {{"Cookie", value}}) == "v2");
  REQUIRE(svc.Bgctl({"abort"}).exit_code == 0);
  for (int i = 0; i < 20; ++i)
    CHECK(VersionWith(svc.port(), {{"Cookie", value}}) == "v1");
}

TEST_CASE(
    "a bad canary on the lua switch is cut and not one request reaches it "
    "after the confirmed change",
    "[lua_e2e]") {
  REQUIRE_LUA();
  ServiceOptions o = LuaOptions("[{weight: 50, pause: 30s}, {weight: 100}]");
  o.analysis =
      "{method: windows, interval: 500ms, min_requests: 20, failure_limit: 1, "
      "max_error_rate: 0.05, max_p99_latency: 250ms, max_latency_ratio: 10}";
  Service svc;
  RequireStartWithV1(&svc, o);
  o.backend_args = ", --error-rate, \"0.5\"";
  std::string bad_config = svc.WriteConfig("bad.yaml", o);
  LoadGenerator load(KeepAliveLoad(svc.port()));
  load.Start();
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"}, bad_config);
  int64_t done_ms = NowMs() - load.started_at_ms();
  SleepMs(500);
  LoadReport report = load.Stop();
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 3);
  // The canary got traffic, then nothing that started after bgctl returned
  // (its last switch was confirmed before that).
  CHECK(report.per_version["v2"] > 0);
  int after = 0;
  for (const RequestRecord& rec : report.records)
    if (rec.start_ms > done_ms && rec.version == "v2") ++after;
  CHECK(after == 0);
  const std::string log = svc.nginx().access_log_path();
  int64_t from = FileSize(log);
  REQUIRE(SendExactly(svc.port(), 200));
  std::map<std::string, int> cut = LoggedSince(log, from, 200);
  CHECK(cut[PortOf(svc.green())] == 0);
  CHECK(cut[PortOf(svc.blue())] == 200);
}
