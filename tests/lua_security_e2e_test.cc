// End-to-end: who can move traffic on the lua switch (issue 15), pinned
// requests and the shared dict (issue 16, items 1-3), and the migration of
// nginx's loaded upstream file (issue 17, item 2), against a real nginx with
// Debian's Lua module, real backend-sample processes and the real bgctl.
// Skipped, saying so, where the module is not installed (and the attack as
// another user where this test does not run as root).
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/control_key.h"
#include "controller/lua_upstream.h"
#include "controller/upstream_file.h"
#include "tests/support/e2e.h"
#include "tests/support/http_backend.h"
#include "tests/support/load.h"
#include "tests/support/ports.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

ServiceOptions LuaOptions(const std::string& steps = "[{weight: 100}]",
                          const std::string& lua = "") {
  ServiceOptions o;
  o.nginx_switch = "lua";
  o.steps = steps;
  o.lua = lua;
  return o;
}

// The shipped lua nginx.conf for `port`, with `edit` applied to its text.
std::function<std::string(int)> LuaConf(
    const std::function<std::string(std::string)>& edit) {
  return [edit](int port) {
    std::string text = ReadWholeFile(std::string(BGCTL_SOURCE_DIR) +
                                     "/nginx/nginx-lua.conf.template");
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{
             {"@LISTEN_PORT@", std::to_string(port)},
             {"@UPSTREAM_NAME@", "svc"}})
      for (size_t at; (at = text.find(from)) != std::string::npos;)
        text.replace(at, from.size(), to);
    return edit(text);
  };
}

// `text` with `from` (which must be there) replaced by `to`.
std::string Replaced(std::string text, const std::string& from,
                     const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// A test-only location that sets a shared-dict entry as an older bgctl.lua
// or a forger would have: POST /__test/dict?key=K with the value as body.
std::string WithForgeLocation(const std::string& text) {
  return Replaced(text, "        location / {\n",
                  "        location = /__test/dict {\n"
                  "            allow 127.0.0.1;\n"
                  "            deny all;\n"
                  "            content_by_lua_block {\n"
                  "                ngx.req.read_body()\n"
                  "                local ok = ngx.shared.bgctl:set("
                  "ngx.var.arg_key, ngx.req.get_body_data())\n"
                  "                ngx.say(ok and \"set\" or \"failed\")\n"
                  "            }\n"
                  "        }\n"
                  "        location / {\n");
}

std::string ControlUrl(Service& svc) {
  return "http://127.0.0.1:" + std::to_string(svc.port()) + "/__bgctl/split";
}

std::string KeyOf(Service& svc) {
  std::string key = ReadWholeFile(svc.dir() + "/state/control.key");
  while (!key.empty() && key.back() == '\n') key.pop_back();
  return key;
}

// curl's status code for a POST of `body` to `url` (optionally as user
// nobody, with extra curl arguments), "" when curl fails.
std::string CurlPost(const std::string& url, const std::string& body,
                     const std::vector<std::string>& extra = {},
                     bool as_nobody = false) {
  std::vector<std::string> argv;
  if (as_nobody)
    argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
  argv.insert(argv.end(), {"curl", "-s", "-o", "/dev/null", "-w",
                           "%{http_code}", "--max-time", "5"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--data-binary", body, url});
  return RunCommand(argv, 10000).out;
}

// The version of `n` GETs through nginx over new connections, each with
// `headers`; "" for a failed one, "502" for a 502.
std::vector<std::string> Versions(int port, int n,
                                  const httplib::Headers& headers = {}) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    httplib::Client c("127.0.0.1", port);
    c.set_keep_alive(false);
    c.set_connection_timeout(2);
    c.set_read_timeout(5);
    auto res = c.Get("/", headers);
    if (!res) {
      out.push_back("");
    } else if (res->status != 200) {
      out.push_back(std::to_string(res->status));
    } else {
      std::string v = VersionOf(res->body);
      out.push_back(v.empty() ? res->body : v);
    }
  }
  return out;
}

std::vector<std::string> Times(int n, const std::string& what) {
  return std::vector<std::string>(n, what);
}

// Reloads the service's nginx into an upstream file of `generation`; true
// once none of its old workers is left (they answer with the previous file
// until they exit) and the probe answers `generation`.
bool Reload(Service& svc, uint64_t generation) {
  // nginx writes its pid file before it forks its workers.
  if (!WaitFor([&] { return svc.nginx().WorkerPids().size() == 2; }, 5000))
    return false;
  const std::vector<pid_t> old = svc.nginx().WorkerPids();
  if (RunCommand(svc.nginx().reload_command(), 20000).exit_code != 0)
    return false;
  return WaitFor(
      [&] {
        for (pid_t p : svc.nginx().WorkerPids())
          if (std::find(old.begin(), old.end(), p) != old.end()) return false;
        return WrongGenerations(svc.port(), generation, 5) == 0;
      },
      10000);
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; ++at)
    ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "another local user's push without the control key is refused, traffic "
    "does not move, and bgctl's next deploy works",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  if (geteuid() != 0) BGCTL_SKIP("needs root to run curl as user nobody");
  Service svc;
  RequireStartWithV1(&svc, LuaOptions());
  HttpBackend evil("EVIL");
  const std::string steal =
      "gen=999999999;w=100;id=x;stable=;canary=127.0.0.1:" +
      std::to_string(evil.port()) + ";preview=;sticky=";
  const std::string top =
      "gen=18446744073709551615;w=100;id=x;stable=;canary=127.0.0.1:" +
      std::to_string(evil.port()) + ";preview=;pvh=;sticky=";
  // The attack of issue 15, as user nobody.
  CHECK(CurlPost(ControlUrl(svc), steal, {}, true) == "401");
  CHECK(CurlPost(ControlUrl(svc), top, {}, true) == "401");
  CHECK(CurlPost(ControlUrl(svc), top,
                 {"-H", "X-Bgctl-Key: " + std::string(64, '0')},
                 true) == "403");
  CHECK(CurlPost(ControlUrl(svc), top, {"-H", "X-Bgctl-Takeover: 1"}, true) ==
        "401");
  // nobody cannot read the key.
  CHECK(RunCommand({"setpriv", "--reuid=nobody", "--regid=nogroup",
                    "--clear-groups", "cat", svc.dir() + "/state/control.key"},
                   10000)
            .exit_code != 0);
  CHECK(Versions(svc.port(), 10) == Times(10, "v1"));
  // Even with the key, a split naming a stranger's port is refused.
  CHECK(CurlPost(ControlUrl(svc), top, {"-H", "X-Bgctl-Key: " + KeyOf(svc)}) ==
        "403");
  CHECK(Versions(svc.port(), 10) == Times(10, "v1"));
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(d.out << d.err);
  CHECK(d.exit_code == 0);
  CHECK(d.out.find("takeover") == std::string::npos);
  CHECK(Versions(svc.port(), 10) == Times(10, "v2"));
}

TEST_CASE(
    "a forged generation in the shared dict is taken over by the next "
    "command, and one left under an older version's key is never served",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  ServiceOptions o = LuaOptions();
  o.nginx_conf = LuaConf(WithForgeLocation);
  Service svc;
  RequireStartWithV1(&svc, o);
  HttpBackend evil("EVIL");
  const std::string forge =
      "http://127.0.0.1:" + std::to_string(svc.port()) + "/__test/dict?key=";
  auto steal = [&](const std::string& gen) {
    return "gen=" + gen + ";w=100;id=x;stable=;canary=127.0.0.1:" +
           std::to_string(evil.port()) + ";preview=;pvh=;sticky=";
  };
  // An older bgctl.lua kept pushes under "split": never read now.
  REQUIRE(Fetch(svc.port(), "/").status == 200);
  REQUIRE(CurlPost(forge + "split", steal("18446744073709551615")) == "200");
  CHECK(Versions(svc.port(), 10) == Times(10, "v1"));

  // Under this key (a restored state, or a forger with nginx's config):
  // served, and the next deploy says so and takes over.
  const std::string slot = "split:" + bgctl::Sha1Hex(KeyOf(svc));
  REQUIRE(CurlPost(forge + slot, steal("18446744073709551615")) == "200");
  REQUIRE(Versions(svc.port(), 10) == Times(10, "EVIL"));
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  CHECK(d.out.find("nginx serves generation 18446744073709551615, ahead of "
                   "bgctl's state") != std::string::npos);
  CHECK(Versions(svc.port(), 10) == Times(10, "v2"));

  // 2^53 and 2^53 + 1 are one generation apart, not the same number.
  const std::string stable_v2 =
      "gen=9007199254740992;w=0;id=;stable=127.0.0.1:" +
      std::to_string(svc.green()) + ";canary=;preview=;pvh=;sticky=";
  REQUIRE(CurlPost(forge + slot, stable_v2) == "200");
  const std::string next =
      Replaced(stable_v2, "9007199254740992", "9007199254740993");
  CHECK(CurlPost(ControlUrl(svc), next, {"-H", "X-Bgctl-Key: " + KeyOf(svc)}) ==
        "200");
  CHECK(Fetch(svc.port(), "/__bgctl/split").body == next + "\n");
  CHECK(CurlPost(ControlUrl(svc), stable_v2,
                 {"-H", "X-Bgctl-Key: " + KeyOf(svc)}) == "409");
  CommandResult d3 = svc.Bgctl({"deploy", "--version", "v3"});
  INFO(d3.out << d3.err);
  CHECK(d3.exit_code == 0);
  CHECK(d3.out.find("nginx serves generation 9007199254740993, ahead of "
                    "bgctl's state") != std::string::npos);
  CHECK(Versions(svc.port(), 10) == Times(10, "v3"));
}

TEST_CASE(
    "the preview header pins the canary only with the rollout's token: "
    "`always` and a wrong value stay on the weighted split",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(&svc,
                     LuaOptions("[{weight: 1, pause: forever}, {weight: 100}]",
                                "{preview_header: X-Canary}"));
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  REQUIRE(svc.Bgctl({"set-weight", "0"}).exit_code == 0);
  std::string token = ReadWholeFile(svc.dir() + "/state/preview.token");
  REQUIRE(token.size() == 41);
  token.pop_back();
  CHECK(Versions(svc.port(), 5) == Times(5, "v1"));
  CHECK(Versions(svc.port(), 5, {{"X-Canary", "always"}}) == Times(5, "v1"));
  CHECK(Versions(svc.port(), 5, {{"X-Canary", std::string(40, 'f')}}) ==
        Times(5, "v1"));
  CHECK(Versions(svc.port(), 5, {{"X-Canary", token}}) == Times(5, "v2"));
  REQUIRE(svc.Bgctl({"set-weight", "100"}).exit_code == 0);
  CHECK(Versions(svc.port(), 5) == Times(5, "v2"));
  CHECK(Versions(svc.port(), 5, {{"X-Canary", "never"}}) == Times(5, "v1"));
}

TEST_CASE(
    "pinned requests never reach a stopped instance: `never` after a "
    "promotion and the preview token after an abort",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(&svc,
                     LuaOptions("[{weight: 10, pause: forever}, {weight: 100}]",
                                "{preview_header: X-Canary}"));
  REQUIRE(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  CommandResult p = svc.Bgctl({"promote"});
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  REQUIRE(svc.BackendPids(svc.blue()).empty());  // v1 drained and gone
  CHECK(Versions(svc.port(), 10, {{"X-Canary", "never"}}) == Times(10, "v2"));

  REQUIRE(svc.Bgctl({"deploy", "--version", "v3"}).exit_code == 0);
  std::string token = ReadWholeFile(svc.dir() + "/state/preview.token");
  token.pop_back();
  REQUIRE(Versions(svc.port(), 3, {{"X-Canary", token}}) == Times(3, "v3"));
  CommandResult a = svc.Bgctl({"abort"});
  INFO(a.out << a.err);
  REQUIRE(a.exit_code == 0);
  REQUIRE(svc.BackendPids(svc.blue()).empty());  // v3 stopped
  CHECK(Versions(svc.port(), 10, {{"X-Canary", token}}) == Times(10, "v2"));
}

TEST_CASE(
    "without the bgctl shared dict nginx serves the upstream's servers and "
    "logs it once a worker, and deploy refuses to start with validate's "
    "message",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  ServiceOptions o = LuaOptions();
  o.nginx_conf = LuaConf([](std::string text) {
    return Replaced(text, "    lua_shared_dict bgctl 1m;\n", "");
  });
  Service svc;
  std::string err;
  REQUIRE(svc.Start(o, &err));
  HttpBackend legacy("LEGACY");
  // What bgctl wrote for a service that ran on the lua switch.
  REQUIRE(WriteWholeFile(
      svc.nginx().upstream_file(),
      bgctl::RenderLuaServersUpstream(
          "svc", {{legacy.port(), 100}}, 3,
          bgctl::ControlKeyOf(std::string(64, 'e')),
          {{"127.0.0.1", svc.blue()}, {"127.0.0.1", svc.green()}})));
  REQUIRE(Reload(svc, 3));
  REQUIRE(Fetch(svc.port(), "/").body == "LEGACY");
  const std::string warning = "bgctl: no lua_shared_dict bgctl";
  CHECK(Versions(svc.port(), 4) == Times(4, "LEGACY"));
  const int logged =
      Count(ReadWholeFile(svc.nginx().error_log_path()), warning);
  CHECK(logged >= 1);
  CHECK(logged <= 4);  // once a worker: 2 before the reload, 2 after
  CHECK(Versions(svc.port(), 20) == Times(20, "LEGACY"));
  CHECK(Count(ReadWholeFile(svc.nginx().error_log_path()), warning) <= 4);

  const std::string file = ReadWholeFile(svc.nginx().upstream_file());
  const std::string missing =
      "nginx.switch is lua but the http block has no \"lua_shared_dict bgctl "
      "1m;\"";
  CommandResult v = svc.Bgctl({"validate"});
  CHECK(v.exit_code == 2);
  CHECK(v.err.find(missing) != std::string::npos);
  CommandResult d = svc.Bgctl({"deploy", "--version", "v1"});
  INFO(d.out << d.err);
  CHECK(d.exit_code == 2);
  CHECK(d.err.find(missing) != std::string::npos);
  CHECK(svc.BackendPids(svc.blue()).empty());
  CHECK(ReadWholeFile(svc.nginx().upstream_file()) == file);
  CHECK(Versions(svc.port(), 5) == Times(5, "LEGACY"));
}

TEST_CASE(
    "a first deploy whose push reaches no nginx puts back the file that "
    "served before and stops its canary, and nginx started again serves the "
    "old backend",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  Service svc;
  std::string err;
  REQUIRE(svc.Start(LuaOptions(), &err));
  HttpBackend legacy("LEGACY");
  // As `bgctl init` writes it: today's backend keeps serving.
  const std::string before =
      bgctl::RenderUpstream("svc", {{legacy.port(), 100}}, 1);
  REQUIRE(WriteWholeFile(svc.nginx().upstream_file(), before));
  REQUIRE(Reload(svc, 1));
  REQUIRE(Fetch(svc.port(), "/").body == "LEGACY");
  svc.nginx().Stop();
  // validate tries the control URL (here probe_url's host and port).
  CommandResult v = svc.Bgctl({"validate"});
  CHECK(v.exit_code == 2);
  CHECK(v.err.find(svc.config_path() +
                   ":9: nginx.probe_url: nginx lua "
                   "control " +
                   ControlUrl(svc) + ": GET " + ControlUrl(svc) +
                   ": Connection refused") != std::string::npos);
  CommandResult d = svc.Bgctl({"deploy", "--version", "v1"});
  INFO(d.out << d.err);
  CHECK(d.exit_code == 1);
  CHECK(d.err.find("nginx lua push failed") != std::string::npos);
  CHECK(ReadWholeFile(svc.nginx().upstream_file()) == before);
  CHECK(svc.BackendPids(svc.blue()).empty());
  REQUIRE(svc.nginx().Restart(&err));
  CHECK(Versions(svc.port(), 20) == Times(20, "LEGACY"));
}

TEST_CASE(
    "a service moves from the reload switch to lua with one confirmed "
    "reload that keeps its servers: under keep-alive load no request gets "
    "an error answer, that reload resets at most one idle connection a "
    "client, and nothing fails after it",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(
      &svc, LuaOptions("[{weight: 10, pause: 1s}, {weight: 50, pause: 1s}, "
                       "{weight: 100}]"));
  // v1b runs on the reload switch (its file has no balancer, no split).
  ServiceOptions reload = LuaOptions();
  reload.nginx_switch = "reload";
  const std::string reload_yaml = svc.WriteConfig("reload.yaml", reload);
  REQUIRE(svc.Bgctl({"deploy", "--version", "v1b"}, reload_yaml).exit_code ==
          0);
  REQUIRE(ReadWholeFile(svc.nginx().upstream_file()).find("$bgctl_split") ==
          std::string::npos);
  CommandResult v = svc.Bgctl({"validate"});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK((v.out + v.err).find("was not written for the lua switch") !=
        std::string::npos);
  CHECK((v.out + v.err).find("migrates it with one confirmed reload") !=
        std::string::npos);

  const std::string error_log = svc.nginx().error_log_path();
  const std::string hup = "signal 1 (SIGHUP) received";
  const int reloads = Count(ReadWholeFile(error_log), hup);
  LoadOptions lo = SteadyLoad(svc.port(), 200);
  lo.keep_alive_share = 1.0;
  LoadGenerator migrating(lo);
  migrating.Start();
  SleepMs(300);
  CommandResult d = svc.Bgctl({"deploy", "--version", "v2"});
  LoadReport during = migrating.Stop();
  LoadGenerator after(lo);
  after.Start();
  CommandResult d3 = svc.Bgctl({"deploy", "--version", "v3"});
  SleepMs(300);
  LoadReport then = after.Stop();
  INFO(d.out << d.err << d3.out << d3.err << Failures(during)
             << Failures(then));
  CHECK(d.exit_code == 0);
  CHECK(d3.exit_code == 0);
  CHECK(d.out.find("was not written for the lua switch (no $bgctl_split: "
                   "the reload switch's file, or one from before bgctl): "
                   "migrated with one confirmed reload") != std::string::npos);
  CHECK(d.out.find("keeping the servers it had") != std::string::npos);
  CHECK(d3.out.find("migrated") == std::string::npos);
  CHECK(Count(ReadWholeFile(error_log), hup) == reloads + 1);
  // The migration's reload: nginx 1.22's old workers close idle keep-alive
  // connections (PITFALLS), at most one request a client; no error answer.
  CHECK(during.sent > 300);
  CHECK(during.non2xx == 0);
  CHECK(during.refused == 0);
  CHECK(during.mid_request <= lo.threads);
  CHECK(during.per_version["v1b"] > 0);
  CHECK(during.per_version["v2"] > 0);
  // From then on the lua switch never reloads: nothing fails.
  CHECK(then.sent > 300);
  CHECK(then.errors == 0);
  CHECK(then.non2xx == 0);
  CHECK(Versions(svc.port(), 5) == Times(5, "v3"));
}

TEST_CASE(
    "a lost control key stops a deploy before it starts anything, and "
    "rotate-key gives nginx a new key with one confirmed reload, after "
    "which the old key moves nothing",
    "[lua_security_e2e]") {
  REQUIRE_LUA();
  Service svc;
  RequireStartWithV1(&svc, LuaOptions());
  const std::string old_key = KeyOf(svc);
  const std::string path = svc.dir() + "/state/control.key";
  REQUIRE(std::rename(path.c_str(), (path + ".lost").c_str()) == 0);
  CommandResult lost = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(lost.out << lost.err);
  CHECK(lost.exit_code == 1);
  CHECK(lost.err.find("control key " + path + ": cannot read " + path +
                      ": No such file or directory (nginx's loaded upstream "
                      "file carries a control key") != std::string::npos);
  CHECK(svc.BackendPids(svc.green()).empty());
  CHECK(Versions(svc.port(), 5) == Times(5, "v1"));

  CommandResult r = svc.Bgctl({"rotate-key"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("carries another control key") != std::string::npos);
  CHECK(KeyOf(svc) != old_key);
  const std::string line =
      "gen=999;w=0;id=;stable=127.0.0.1:" + std::to_string(svc.blue()) +
      ";canary=;preview=;pvh=;sticky=";
  CHECK(CurlPost(ControlUrl(svc), line, {"-H", "X-Bgctl-Key: " + old_key}) ==
        "403");
  CHECK(svc.Bgctl({"deploy", "--version", "v2"}).exit_code == 0);
  CHECK(Versions(svc.port(), 5) == Times(5, "v2"));
}
