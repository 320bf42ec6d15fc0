#include "controller/init.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/fake_env.h"
#include "controller/init_files.h"
#include "controller/lua_upstream.h"
#include "controller/upstream_file.h"

namespace bgctl {
namespace {

const char kMain[] =
    "events {}\n"                             // 1
    "http {\n"                                // 2
    "    access_log /var/log/nginx/a.log;\n"  // 3
    "    include sites/*.conf;\n"             // 4
    "}\n";                                    // 5

const char kApp[] =
    "server {\n"                                   // 1
    "    listen 8080;\n"                           // 2
    "    server_name app.example;\n"               // 3
    "    location / {\n"                           // 4
    "        proxy_set_header Host $host;\n"       // 5
    "        proxy_pass http://127.0.0.1:3000;\n"  // 6
    "    }\n"                                      // 7
    "}\n";                                         // 8

std::vector<NginxFile> Dump(const std::string& app = kApp) {
  return {{"/etc/nginx/nginx.conf", kMain}, {"/etc/nginx/sites/app.conf", app}};
}

// kMain with the first `from` replaced by `to` (`from` must be there).
std::string With(std::string text, const std::string& from,
                 const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

InitOptions Options() {
  InitOptions o;
  o.service = "app";
  o.blue_port = 18081;
  o.green_port = 18082;
  o.command = {"/srv/app/bin/app", "--port", "{port}"};
  o.nginx = {"nginx", "-c", "/etc/nginx/nginx.conf"};
  return o;
}

std::string ErrorOf(const InitOptions& o, const std::vector<NginxFile>& dump,
                    InitOutcome want = InitOutcome::kUsage) {
  InitPlan plan;
  std::string err;
  CHECK(PlanInit(o, dump, InitHost(), &plan, &err) == want);
  return err;
}

const std::string& FileText(const InitPlan& plan, const std::string& path) {
  for (const NginxFile& f : plan.files)
    if (f.path == path) return f.text;
  FAIL("no file " << path);
  static std::string none;
  return none;
}

}  // namespace

TEST_CASE(
    "init finds the one location that proxies and plans its files in "
    "Debian's layout and the lines for the http, server and location blocks",
    "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  CHECK(plan.location == "/etc/nginx/sites/app.conf:4");
  CHECK(plan.config == "/etc/bgctl/app/bgctl.yaml");
  CHECK(plan.state_dir == "/var/lib/bgctl/app");
  CHECK(plan.access_log == "/var/log/nginx/app.bgctl.log");
  CHECK(plan.switch_name == "reload");
  REQUIRE(plan.files.size() == 4);
  CHECK(plan.files[1].path == "/etc/bgctl/app/nginx/bgctl_probe.conf");
  CHECK(plan.files[3].path == "/var/lib/bgctl/app/upstream.conf");
  // Until the first deploy the backend that serves now keeps serving.
  CHECK(plan.files[3].text ==
        RenderUpstream("app_backend", {{3000, 100, "127.0.0.1"}}, 0));
  CHECK(FileText(plan, "/etc/bgctl/app/nginx/bgctl_probe.conf")
            .find("location = /__bgctl/generation {\n    allow 127.0.0.1;\n"
                  "    deny all;\n    access_log off;\n") != std::string::npos);
  CHECK(FileText(plan, "/etc/bgctl/app/nginx/bgctl_log_format.conf")
            .rfind("log_format bgctl escape=json '{\"msec\":$msec,", 0) == 0);
  REQUIRE(plan.edits.size() == 3);
  const InitEdit& http = plan.edits[0];
  CHECK(http.file == "/etc/nginx/nginx.conf");
  CHECK(http.line == 2);
  CHECK(http.add == std::vector<std::string>{
                        "include /etc/bgctl/app/nginx/bgctl_log_format.conf;",
                        "include /var/lib/bgctl/app/upstream.conf;"});
  const InitEdit& server = plan.edits[1];
  CHECK(server.file == "/etc/nginx/sites/app.conf");
  CHECK(server.line == 1);
  CHECK(server.block == "server (listen 8080, server_name app.example)");
  CHECK(server.add == std::vector<std::string>{
                          "include /etc/bgctl/app/nginx/bgctl_probe.conf;"});
  const InitEdit& loc = plan.edits[2];
  CHECK(loc.line == 4);
  CHECK(loc.block == "location /");
  CHECK(loc.replace_line == 6);
  CHECK(loc.replace_text == "proxy_pass http://127.0.0.1:3000;");
  CHECK(loc.replace_with == "proxy_pass http://app_backend;");
  // The location's own access_log replaces the inherited one: it is kept.
  // Its own proxy_set_header stays in force, so only Connection is added.
  CHECK(loc.add == std::vector<std::string>{
                       "access_log /var/log/nginx/app.bgctl.log bgctl;",
                       "access_log /var/log/nginx/a.log;  # inherited from "
                       "/etc/nginx/nginx.conf:3, kept",
                       "proxy_http_version 1.1;",
                       "proxy_set_header Connection \"\";"});
  CHECK(plan.notes.empty());
}

TEST_CASE(
    "on the reload switch init warns that client keep-alive fails requests "
    "on reload and names the exact line, and says nothing once it is off",
    "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  REQUIRE(plan.warnings.size() == 1);
  CHECK(plan.warnings[0] ==
        "the location at /etc/nginx/sites/app.conf:4: client keep-alive is "
        "on (keepalive_timeout 75s, nginx's default): on the reload switch "
        "every traffic step reloads nginx, whose old workers then close their "
        "idle keep-alive connections, and a request a client sends on one at "
        "that instant fails; add \"keepalive_timeout 0;\" to the server block "
        "at /etc/nginx/sites/app.conf:1, or use nginx.switch: lua (no "
        "reload; Debian: libnginx-mod-http-lua)");
  CHECK_THAT(InitText(plan), Catch::Contains("\nwarning: the location at "));
  std::vector<NginxFile> dump = Dump();
  dump[0].text = With(kMain, "http {\n", "http {\n    keepalive_timeout 65;\n");
  REQUIRE(PlanInit(Options(), dump, InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  REQUIRE(plan.warnings.size() == 1);
  CHECK_THAT(plan.warnings[0],
             Catch::Contains("(keepalive_timeout 65;)") &&
                 Catch::Contains("change /etc/nginx/nginx.conf:3 to "
                                 "\"keepalive_timeout 0;\""));
  dump[0].text = With(kMain, "http {\n", "http {\n    keepalive_timeout 0;\n");
  plan = InitPlan();
  REQUIRE(PlanInit(Options(), dump, InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  CHECK(plan.warnings.empty());
}

TEST_CASE(
    "the bgctl.yaml init writes loads and names the probe, the commands, "
    "the ports and Debian's paths",
    "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  Config config;
  INFO(plan.files[0].text);
  REQUIRE(ParseConfig(plan.files[0].text, plan.config, &config, &err));
  CHECK(config.service == "app");
  CHECK(config.state_dir == "/var/lib/bgctl/app");
  CHECK(config.nginx.switch_kind == SwitchKind::kReload);
  CHECK(config.nginx.upstream_file == "/var/lib/bgctl/app/upstream.conf");
  CHECK(config.nginx.upstream_name == "app_backend");
  CHECK(config.nginx.test_command ==
        std::vector<std::string>{"nginx", "-t", "-c", "/etc/nginx/nginx.conf"});
  CHECK(config.nginx.reload_command ==
        std::vector<std::string>{"nginx", "-s", "reload", "-c",
                                 "/etc/nginx/nginx.conf"});
  CHECK(config.nginx.access_log == "/var/log/nginx/app.bgctl.log");
  CHECK(config.nginx.probe_url == "http://127.0.0.1:8080/__bgctl/generation");
  CHECK(config.blue_port == 18081);
  CHECK(config.green_port == 18082);
  CHECK(config.backend.command == Options().command);
  CHECK(config.metrics.textfile.empty());
  // Flags put everything elsewhere (tests); relative is relative to --dir.
  InitOptions o = Options();
  o.dir = "/srv/app";
  o.state_dir = "state";
  o.access_log = "logs/app.log";
  REQUIRE(PlanInit(o, Dump(), InitHost(), &plan, &err) == InitOutcome::kOk);
  REQUIRE(ParseConfig(plan.files[0].text, plan.config, &config, &err));
  CHECK(plan.config == "/srv/app/bgctl.yaml");
  CHECK(config.state_dir == "/srv/app/state");
  CHECK(config.nginx.upstream_file == "/srv/app/state/upstream.conf");
  CHECK(config.nginx.access_log == "/srv/app/logs/app.log");
  CHECK(plan.edits[2].add[0] == "access_log /srv/app/logs/app.log bgctl;");
}

TEST_CASE("the README section bgctl.yaml points to exists in the README",
          "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  const std::string& yaml = plan.files[0].text;
  const std::string named =
      std::string("the README's section\n# \"") + kInitReadmeSection + "\"";
  CHECK_THAT(yaml, Catch::Contains(named));
  std::ifstream readme(std::string(BGCTL_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << readme.rdbuf();
  CHECK_THAT(text.str(),
             Catch::Contains(std::string("\n## ") + kInitReadmeSection + "\n"));
}

TEST_CASE(
    "where nginx loads the Lua module (Debian's modules-enabled) init "
    "writes switch lua, the lua snippets and the lua upstream file with the "
    "control key's hash, and no load_module line",
    "[init]") {
  std::vector<NginxFile> dump = Dump();
  dump[0].text =
      "load_module modules/ndk_http_module.so;\n"
      "load_module modules/ngx_http_lua_module.so;\n" +
      std::string(kMain);
  InitHost host;
  host.control_key = ControlKeyOf(std::string(64, 'a'));
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), dump, host, &plan, &err) == InitOutcome::kOk);
  CHECK(plan.switch_name == "lua");
  CHECK(plan.warnings.empty());
  Config config;
  REQUIRE(ParseConfig(plan.files[0].text, plan.config, &config, &err));
  CHECK(config.nginx.switch_kind == SwitchKind::kLua);
  REQUIRE(plan.files.size() == 5);
  CHECK(plan.files[3].path == "/etc/bgctl/app/nginx/bgctl_lua.conf");
  CHECK_THAT(plan.files[3].text,
             Catch::Contains("\nlua_package_path "
                             "\"/usr/share/bgctl/nginx/lua/?.lua;;\";\n") &&
                 Catch::EndsWith("\nlua_shared_dict bgctl 1m;\n"));
  CHECK_THAT(plan.files[1].text,
             Catch::Contains("location = /__bgctl/split {\n    allow "
                             "127.0.0.1;\n    deny all;\n") &&
                 Catch::Contains("    content_by_lua_block { "
                                 "require(\"bgctl\").control() }\n}\n"));
  CHECK(plan.files[4].text ==
        RenderLuaServersUpstream("app_backend", {{3000, 100, "127.0.0.1"}}, 0,
                                 host.control_key, ServiceEndpoints(config)));
  CHECK_THAT(plan.files[4].text,
             Catch::Contains("key=" + Sha1Hex(std::string(64, 'a'))));
  REQUIRE(plan.edits.size() == 3);
  CHECK(plan.edits[0].block == "http");
  CHECK(plan.edits[0].add.back() ==
        "include /etc/bgctl/app/nginx/bgctl_lua.conf;");
}

TEST_CASE(
    "where the Lua module is installed but not loaded, init prints the "
    "load_module lines for the top of nginx.conf, and --switch picks by "
    "hand",
    "[init]") {
  InitHost installed;
  installed.lua_module_installed = true;
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), installed, &plan, &err) ==
          InitOutcome::kOk);
  CHECK(plan.switch_name == "lua");
  REQUIRE(plan.edits.size() == 4);
  CHECK(plan.edits[0].file == "/etc/nginx/nginx.conf");
  CHECK(plan.edits[0].line == 0);
  CHECK(plan.edits[0].add ==
        std::vector<std::string>{
            "load_module /usr/lib/nginx/modules/ndk_http_module.so;",
            "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"});
  CHECK_THAT(InitText(plan),
             Catch::Contains("\n1. /etc/nginx/nginx.conf, at the top (before "
                             "`events`):\n   add:\n         load_module "
                             "/usr/lib/nginx/modules/ndk_http_module.so;\n"));
  InitOptions o = Options();
  o.switch_kind = InitSwitch::kReload;
  plan = InitPlan();
  REQUIRE(PlanInit(o, Dump(), installed, &plan, &err) == InitOutcome::kOk);
  CHECK(plan.switch_name == "reload");
  CHECK(plan.files.size() == 4);
  o.switch_kind = InitSwitch::kLua;
  CHECK(ErrorOf(o, Dump()) ==
        "--switch lua: nginx does not load the Lua module and "
        "/usr/lib/nginx/modules does not have it (Debian: apt install "
        "libnginx-mod-http-lua)");
}

TEST_CASE("a lua_package_path of the user's own is extended, not repeated",
          "[init]") {
  std::vector<NginxFile> dump = Dump();
  dump[0].text =
      "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"      // 1
      "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"  // 2
      "events {}\n"                                                   // 3
      "http {\n"                                                      // 4
      "    lua_package_path \"/srv/lua/?.lua;;\";\n"                  // 5
      "    include sites/*.conf;\n"                                   // 6
      "}\n";
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), dump, InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  CHECK_THAT(plan.files[3].text, !Catch::Contains("lua_package_path"));
  REQUIRE(plan.edits.size() == 4);
  const InitEdit& e = plan.edits[1];
  CHECK(e.file == "/etc/nginx/nginx.conf");
  CHECK(e.replace_line == 5);
  CHECK(e.replace_text == "lua_package_path \"/srv/lua/?.lua;;\";");
  CHECK(e.replace_with ==
        "lua_package_path "
        "\"/usr/share/bgctl/nginx/lua/?.lua;/srv/lua/?.lua;;\";");
  CHECK(e.add.empty());
}

TEST_CASE(
    "a location that proxies to an upstream block of numeric servers keeps "
    "them, weights and all, until the first deploy",
    "[init]") {
  std::vector<NginxFile> dump = Dump(With(
      kApp, "proxy_pass http://127.0.0.1:3000;", "proxy_pass http://shop;"));
  dump[0].text = With(kMain, "http {\n",
                      "http {\n    upstream shop {\n        server "
                      "127.0.0.1:3000 weight=3;\n        server localhost:3001;"
                      "\n        server 127.0.0.1:3002 backup;\n    }\n");
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), dump, InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  CHECK(plan.files.back().text ==
        RenderUpstream("app_backend",
                       {{3000, 3, "127.0.0.1"}, {3001, 1, "127.0.0.1"}}, 0));
  CHECK(plan.notes.empty());
  CHECK(plan.edits.back().replace_with == "proxy_pass http://app_backend;");
}

TEST_CASE(
    "several locations that proxy are an error listing each with its "
    "file and line until --location or --server-name picks one",
    "[init]") {
  const std::string two = std::string(kApp) +
                          "server {\n"                                 // 9
                          "    listen 127.0.0.1:8090;\n"               // 10
                          "    server_name api.example;\n"             // 11
                          "    location /api/ {\n"                     // 12
                          "        proxy_pass http://api_pool/v1/;\n"  // 13
                          "    }\n"
                          "}\n";
  CHECK(ErrorOf(Options(), Dump(two)) ==
        "several locations match: choose one with --location PATH and "
        "--server-name NAME; the locations with proxy_pass:\n"
        "  /etc/nginx/sites/app.conf:4 server (listen 8080, server_name "
        "app.example): location / -> proxy_pass http://127.0.0.1:3000;\n"
        "  /etc/nginx/sites/app.conf:12 server (listen 127.0.0.1:8090, "
        "server_name api.example): location /api/ -> proxy_pass "
        "http://api_pool/v1/;");
  InitOptions o = Options();
  o.server_name = "api.example";
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(o, Dump(two), InitHost(), &plan, &err) == InitOutcome::kOk);
  CHECK(plan.location == "/etc/nginx/sites/app.conf:12");
  // The path after the upstream is kept; a target that is not HOST:PORT
  // gets the placeholder and a note on when to change proxy_pass.
  CHECK(plan.edits[2].replace_with == "proxy_pass http://app_backend/v1/;");
  CHECK(plan.files.back().text ==
        RenderPlaceholderUpstream("app_backend", 18081));
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0].find("nginx answers 502") != std::string::npos);
  CHECK(plan.edits[1].block ==
        "server (listen 127.0.0.1:8090, server_name api.example)");
  o = Options();
  o.location = "/nothing";
  CHECK(ErrorOf(o, Dump(two))
            .rfind("no location matches --location/--server-name: choose one",
                   0) == 0);
}

TEST_CASE(
    "the probe goes into the server that answers the listen address "
    "by default, which may be another one",
    "[init]") {
  const std::string app =
      "server {\n"
      "    listen 8080 default_server;\n"
      "    return 404;\n"
      "}\n" +
      std::string(kApp);
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(app), InitHost(), &plan, &err) ==
          InitOutcome::kOk);
  CHECK(plan.edits[1].line == 1);
  CHECK(plan.edits[1].block == "server (listen 8080 default_server)");
  CHECK(plan.location == "/etc/nginx/sites/app.conf:8");
}

TEST_CASE(
    "init refuses bad flags, a slot port the backend uses now, a name "
    "that exists and a configuration without a proxy",
    "[init]") {
  InitOptions o = Options();
  o.command.clear();
  CHECK(ErrorOf(o, Dump()).rfind("--command: the backend's command line is "
                                 "required",
                                 0) == 0);
  o = Options();
  o.green_port = 3000;
  CHECK(ErrorOf(o, Dump()) ==
        "--blue-port/--green-port: 3000 is the port of the backend that "
        "serves now (/etc/nginx/sites/app.conf:6): pick two free ports");
  o = Options();
  o.command = {"/srv/app/bin/app", "--listen", "8000"};
  CHECK(ErrorOf(o, Dump()) ==
        "--command: no {port} in \"/srv/app/bin/app --listen 8000\": each "
        "slot runs on its own port, which bgctl puts where {port} stands, "
        "e.g. --command '/srv/app/bin/app --port {port}'");
  o = Options();
  o.health_path = "healthz";
  CHECK(ErrorOf(o, Dump()).rfind("the flags make an invalid bgctl.yaml: "
                                 "/etc/bgctl/app/bgctl.yaml:",
                                 0) == 0);
  InitHost busy;
  busy.busy_ports = {18082};
  InitPlan plan;
  std::string err;
  CHECK(PlanInit(Options(), Dump(), busy, &plan, &err) == InitOutcome::kUsage);
  CHECK(err ==
        "--green-port: a process listens on port 18082 already; each slot "
        "needs a port of its own that nothing else uses");
  o = Options();
  o.upstream_name = "app pool";
  CHECK(ErrorOf(o, Dump()).rfind("--upstream-name: invalid name", 0) == 0);
  std::vector<NginxFile> dump = Dump();
  dump[0].text =
      "events {}\nhttp {\n  upstream app_backend { server "
      "127.0.0.1:1; }\n  include sites/*.conf;\n}\n";
  CHECK(ErrorOf(Options(), dump) ==
        "an upstream or zone named app_backend exists already "
        "(/etc/nginx/nginx.conf:3): choose another with --upstream-name");
  CHECK(
      ErrorOf(Options(), {{"/etc/nginx/nginx.conf", "events {}\nhttp {}\n"}}) ==
      "no location with proxy_pass in the configuration nginx -T printed "
      "(/etc/nginx/nginx.conf)");
}

TEST_CASE(
    "init never overwrites a file: one that exists is named and "
    "nothing is written",
    "[init]") {
  for (const char* mine : {"/etc/bgctl/app/nginx/bgctl_probe.conf",
                           "/var/lib/bgctl/app/upstream.conf"}) {
    fake::FakeFileSystem fs;
    fake::FakeProcessRunner processes;
    fs.files[mine] = "mine";
    InitPlan plan;
    std::string err;
    CHECK(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, nullptr,
                  &plan, &err) == InitOutcome::kUsage);
    CHECK(err == std::string(mine) +
                     " exists: bgctl init never overwrites a file (nothing "
                     "was written); move it away or use another --dir or "
                     "--state-dir");
    CHECK(fs.writes().empty());
    CHECK(processes.runs().empty());
    CHECK(fs.files[mine] == "mine");
  }
}

TEST_CASE(
    "a failing nginx -T is an error with what nginx said and nothing "
    "is written",
    "[init]") {
  fake::FakeFileSystem fs;
  fake::FakeProcessRunner processes;
  processes.Script("nginx", RunResult{1, false,
                                      "nginx: [emerg] open() "
                                      "\"/etc/nginx/nginx.conf\" failed (2: No "
                                      "such file or directory)\n"});
  InitPlan plan;
  std::string err;
  CHECK(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, nullptr,
                &plan, &err) == InitOutcome::kFailed);
  CHECK(err ==
        "nginx -T failed: nginx: [emerg] open() \"/etc/nginx/nginx.conf\" "
        "failed (2: No such file or directory)");
  CHECK(processes.RunLines() ==
        std::vector<std::string>{"nginx -T -c /etc/nginx/nginx.conf"});
  CHECK(fs.writes().empty());
}

TEST_CASE(
    "init writes its files after nginx -T answers, the state folder "
    "private, and prints the line to replace apart from the lines to add",
    "[init]") {
  fake::FakeFileSystem fs;
  fake::FakeProcessRunner processes;
  processes.Script(
      "nginx",
      RunResult{0, false,
                "nginx: the configuration file /etc/nginx/nginx.conf syntax "
                "is ok\n# configuration file /etc/nginx/nginx.conf:\n" +
                    std::string(kMain) +
                    "\n# configuration file /etc/nginx/sites/app.conf:\n" +
                    kApp + "\n"});
  InitPlan plan;
  std::string err;
  REQUIRE(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, nullptr,
                  &plan, &err) == InitOutcome::kOk);
  CHECK(fs.dirs.count("/etc/bgctl/app/nginx") == 1);
  CHECK(fs.dirs.count("/var/lib/bgctl/app") == 1);
  REQUIRE(fs.writes().size() == 4);
  for (const NginxFile& f : plan.files) CHECK(fs.Contents(f.path) == f.text);
  CHECK_THAT(InitText(plan),
             Catch::Contains(
                 "\n3. /etc/nginx/sites/app.conf, the location / block (line "
                 "4):\n"
                 "   a. replace line 6:\n"
                 "         proxy_pass http://127.0.0.1:3000;\n"
                 "       with:\n"
                 "         proxy_pass http://app_backend;\n"
                 "   b. add at the start of the block:\n"
                 "         access_log /var/log/nginx/app.bgctl.log bgctl;\n"));
  CHECK_THAT(InitText(plan),
             Catch::Contains("\n2. /etc/nginx/sites/app.conf, the server "
                             "(listen 8080, server_name app.example) block "
                             "(line 1):\n   add at the start of the block:\n"
                             "         include "
                             "/etc/bgctl/app/nginx/bgctl_probe.conf;\n"));
  CHECK(InitJson(plan)["edits"][0]["add"][1] ==
        "include /var/lib/bgctl/app/upstream.conf;");
}

TEST_CASE(
    "lua_package_path points at the package's bgctl.lua, or the source "
    "tree's when bgctl runs from a build",
    "[init]") {
  fake::FakeFileSystem fs;
  CHECK(ShippedLuaDir(&fs, "/usr/bin/bgctl") == "/usr/share/bgctl/nginx/lua");
  fs.files["/work/bgctl/nginx/lua/bgctl.lua"] = "--";
  CHECK(ShippedLuaDir(&fs, "/work/bgctl/build/bgctl") ==
        "/work/bgctl/nginx/lua");
  fs.files["/tmp/deb/usr/share/bgctl/nginx/lua/bgctl.lua"] = "--";
  CHECK(ShippedLuaDir(&fs, "/tmp/deb/usr/bin/bgctl") ==
        "/tmp/deb/usr/share/bgctl/nginx/lua");
}

}  // namespace bgctl
