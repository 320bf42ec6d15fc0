#include "controller/init.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/fake_env.h"
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

InitOptions Options() {
  InitOptions o;
  o.dir = "/srv/app";
  o.service = "app";
  o.blue_port = 8081;
  o.green_port = 8082;
  o.command = {"/srv/app/bin/app", "--port", "{port}"};
  o.nginx = {"nginx", "-c", "/etc/nginx/nginx.conf"};
  return o;
}

std::string ErrorOf(const InitOptions& o, const std::vector<NginxFile>& dump,
                    InitOutcome want = InitOutcome::kUsage) {
  InitPlan plan;
  std::string err;
  CHECK(PlanInit(o, dump, &plan, &err) == want);
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
    "init finds the one location that proxies and plans four files "
    "and the lines for the http, server and location blocks",
    "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), &plan, &err) == InitOutcome::kOk);
  CHECK(plan.location == "/etc/nginx/sites/app.conf:4");
  CHECK(plan.config == "/srv/app/bgctl.yaml");
  REQUIRE(plan.files.size() == 4);
  CHECK(plan.files[1].path == "/srv/app/nginx/upstream.conf");
  // Until the first deploy the backend that serves now keeps serving.
  CHECK(plan.files[1].text ==
        RenderUpstream("app_backend", {{3000, 100, "127.0.0.1"}}, 0));
  CHECK(FileText(plan, "/srv/app/nginx/bgctl_probe.conf")
            .find("location = /__bgctl/generation {\n    allow 127.0.0.1;\n"
                  "    deny all;\n    access_log off;\n") != std::string::npos);
  CHECK(FileText(plan, "/srv/app/nginx/bgctl_log_format.conf")
            .rfind("log_format bgctl escape=json '{\"msec\":$msec,", 0) == 0);
  REQUIRE(plan.edits.size() == 3);
  const InitEdit& http = plan.edits[0];
  CHECK(http.file == "/etc/nginx/nginx.conf");
  CHECK(http.line == 2);
  CHECK(http.add == std::vector<std::string>{
                        "include /srv/app/nginx/bgctl_log_format.conf;",
                        "include /srv/app/nginx/upstream.conf;"});
  const InitEdit& server = plan.edits[1];
  CHECK(server.file == "/etc/nginx/sites/app.conf");
  CHECK(server.line == 1);
  CHECK(server.block == "server (listen 8080, server_name app.example)");
  CHECK(server.add ==
        std::vector<std::string>{"include /srv/app/nginx/bgctl_probe.conf;"});
  const InitEdit& loc = plan.edits[2];
  CHECK(loc.line == 4);
  CHECK(loc.block == "location /");
  CHECK(loc.replace_line == 6);
  CHECK(loc.replace_text == "proxy_pass http://127.0.0.1:3000;");
  CHECK(loc.replace_with == "proxy_pass http://app_backend;");
  // The location's own access_log replaces the inherited one: it is kept.
  // Its own proxy_set_header stays in force, so only Connection is added.
  CHECK(loc.add == std::vector<std::string>{
                       "access_log /srv/app/nginx/access.log bgctl;",
                       "access_log /var/log/nginx/a.log;  # inherited from "
                       "/etc/nginx/nginx.conf:3, kept",
                       "proxy_http_version 1.1;",
                       "proxy_set_header Connection \"\";"});
  CHECK(plan.notes.empty());
}

TEST_CASE(
    "the bgctl.yaml init writes loads and names the probe, the "
    "commands and the ports",
    "[init]") {
  InitPlan plan;
  std::string err;
  REQUIRE(PlanInit(Options(), Dump(), &plan, &err) == InitOutcome::kOk);
  Config config;
  INFO(plan.files[0].text);
  REQUIRE(ParseConfig(plan.files[0].text, plan.config, &config, &err));
  CHECK(config.service == "app");
  CHECK(config.nginx.upstream_file == "/srv/app/nginx/upstream.conf");
  CHECK(config.nginx.upstream_name == "app_backend");
  CHECK(config.nginx.test_command ==
        std::vector<std::string>{"nginx", "-t", "-c", "/etc/nginx/nginx.conf"});
  CHECK(config.nginx.reload_command ==
        std::vector<std::string>{"nginx", "-s", "reload", "-c",
                                 "/etc/nginx/nginx.conf"});
  CHECK(config.nginx.access_log == "/srv/app/nginx/access.log");
  CHECK(config.nginx.probe_url == "http://127.0.0.1:8080/__bgctl/generation");
  CHECK(config.blue_port == 8081);
  CHECK(config.green_port == 8082);
  CHECK(config.backend.command == Options().command);
  CHECK(config.metrics.textfile.empty());
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
  REQUIRE(PlanInit(o, Dump(two), &plan, &err) == InitOutcome::kOk);
  CHECK(plan.location == "/etc/nginx/sites/app.conf:12");
  // The path after the upstream is kept; a target that is not HOST:PORT
  // gets the placeholder and a note on when to change proxy_pass.
  CHECK(plan.edits[2].replace_with == "proxy_pass http://app_backend/v1/;");
  CHECK(plan.files[1].text == RenderPlaceholderUpstream("app_backend", 8081));
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
  REQUIRE(PlanInit(Options(), Dump(app), &plan, &err) == InitOutcome::kOk);
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
  o.health_path = "healthz";
  CHECK(ErrorOf(o, Dump()).rfind(
            "the flags make an invalid bgctl.yaml: /srv/app/bgctl.yaml:", 0) ==
        0);
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
  fake::FakeFileSystem fs;
  fake::FakeProcessRunner processes;
  fs.files["/srv/app/nginx/bgctl_probe.conf"] = "mine";
  InitPlan plan;
  std::string err;
  CHECK(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, &plan,
                &err) == InitOutcome::kUsage);
  CHECK(err ==
        "/srv/app/nginx/bgctl_probe.conf exists: bgctl init never overwrites "
        "a file (nothing was written); move it away or use another --dir");
  CHECK(fs.writes().empty());
  CHECK(processes.runs().empty());
  CHECK(fs.files["/srv/app/nginx/bgctl_probe.conf"] == "mine");
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
  CHECK(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, &plan,
                &err) == InitOutcome::kFailed);
  CHECK(err ==
        "nginx -T failed: nginx: [emerg] open() \"/etc/nginx/nginx.conf\" "
        "failed (2: No such file or directory)");
  CHECK(processes.RunLines() ==
        std::vector<std::string>{"nginx -T -c /etc/nginx/nginx.conf"});
  CHECK(fs.writes().empty());
}

TEST_CASE("init writes its four files after nginx -T answers", "[init]") {
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
  REQUIRE(RunInit(Options(), Env{nullptr, &fs, &processes, nullptr}, &plan,
                  &err) == InitOutcome::kOk);
  CHECK(fs.dirs.count("/srv/app/nginx") == 1);
  REQUIRE(fs.writes().size() == 4);
  for (const NginxFile& f : plan.files) CHECK(fs.Contents(f.path) == f.text);
  const std::string text = InitText(plan);
  CHECK(text.find("3. /etc/nginx/sites/app.conf, at the start of the "
                  "location / block (line 4):\n     replace line 6: "
                  "proxy_pass http://127.0.0.1:3000;\n") != std::string::npos);
  CHECK(InitJson(plan)["edits"][0]["add"][1] ==
        "include /srv/app/nginx/upstream.conf;");
}

}  // namespace bgctl
