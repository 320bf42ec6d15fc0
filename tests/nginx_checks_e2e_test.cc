// End-to-end: a user's own nginx.conf with only the README's additions
// ("Putting it in front of your own nginx"), served by a real nginx with
// real backends under keep-alive load, and `bgctl validate` on it and on
// each misconfiguration it must catch (issue 8, item 5).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "controller/upstream_file.h"
#include "tests/support/e2e.h"
#include "tests/support/http_backend.h"
#include "tests/support/load.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// A user's nginx.conf. The lines marked README are the README's additions;
// the first four lines and the *_temp_path lines only let nginx run
// unprivileged from the test's prefix. `client_keepalive` false adds the
// README's `keepalive_timeout 0;` for the reload switch.
std::string UserConf(int port, bool client_keepalive = false) {
  return std::string(
             "worker_processes 2;\n"
             "pid logs/nginx.pid;\n"
             "error_log logs/error.log notice;\n"
             "worker_shutdown_timeout 30s;\n"
             "events { worker_connections 1024; }\n"
             "http {\n"
             "    client_body_temp_path tmp/client_body;\n"
             "    proxy_temp_path tmp/proxy;\n"
             "    fastcgi_temp_path tmp/fastcgi;\n"
             "    uwsgi_temp_path tmp/uwsgi;\n"
             "    scgi_temp_path tmp/scgi;\n"
             "    include bgctl_log_format.conf;\n"                // README 3
             "    access_log logs/access.log bgctl;\n"             // README 3
             "    include upstream.conf;\n") +                     // README 1
         (client_keepalive ? "" : "    keepalive_timeout 0;\n") +  // README
         "    server {\n"
         "        listen 127.0.0.1:" +
         std::to_string(port) +
         ";\n"
         "        location = /__bgctl/generation { allow 127.0.0.1; deny all; "
         "return 200 $bgctl_generation; }\n"  // README 2
         "        location / {\n"
         "            proxy_pass http://svc;\n"
         "        }\n"
         "    }\n"
         "}\n";
}

// The 1-based line of the first line of `text` holding `needle`, or 0.
int LineOf(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  if (at == std::string::npos) return 0;
  int line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
  return line;
}

std::string Replace(std::string text, const std::string& from,
                    const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

ServiceOptions UserOptions(bool client_keepalive = false) {
  ServiceOptions o;
  o.nginx_conf = [client_keepalive](int port) {
    return UserConf(port, client_keepalive);
  };
  return o;
}

// Deploys v2 under SteadyLoad (6 clients, 3 on keep-alive, 30% POST).
LoadReport DeployUnderLoad(Service* svc, CommandResult* deploy) {
  LoadGenerator load(SteadyLoad(svc->port()));
  load.Start();
  SleepMs(500);
  *deploy = svc->Bgctl({"deploy", "--version", "v2"});
  SleepMs(500);
  return load.Stop();
}

}  // namespace

TEST_CASE(
    "a deploy through a user's own nginx.conf with only the README's "
    "additions fails not one request under keep-alive load",
    "[nginx_checks_e2e]") {
  Service svc;
  RequireStartWithV1(&svc, UserOptions());
  CommandResult valid = svc.Bgctl({"validate"});
  INFO(valid.out << valid.err);
  CHECK(valid.exit_code == 0);
  CommandResult deploy;
  LoadReport report = DeployUnderLoad(&svc, &deploy);
  INFO(deploy.out << deploy.err << Failures(report));
  REQUIRE(deploy.exit_code == 0);
  CHECK(report.sent > 500);
  CHECK(report.ok == report.sent);
  CHECK(report.per_version["v1"] > 0);
  CHECK(report.per_version["v2"] > 0);
  // What bgctl wrote: passive failure marks off, no upstream keep-alive.
  std::string upstream = ReadWholeFile(svc.nginx().upstream_file());
  CHECK(upstream.find("    server 127.0.0.1:" + std::to_string(svc.green()) +
                      " weight=100 max_fails=0;\n") != std::string::npos);
  CHECK(upstream.find("keepalive") == std::string::npos);
}

TEST_CASE(
    "with nginx's default client keep-alive the same deploy gets no 502 and "
    "loses at most one request per keep-alive client per reload",
    "[nginx_checks_e2e]") {
  Service svc;
  RequireStartWithV1(&svc, UserOptions(/*client_keepalive=*/true));
  CommandResult deploy;
  LoadReport report = DeployUnderLoad(&svc, &deploy);
  INFO(deploy.out << deploy.err << Failures(report));
  REQUIRE(deploy.exit_code == 0);
  CHECK(report.sent > 500);
  // Every answer nginx gave was a 2xx: no server was marked down.
  CHECK(report.non2xx == 0);
  CHECK(report.refused == 0);
  // nginx 1.22's old workers close idle client connections at each of the
  // 3 reloads (PITFALLS); 3 keep-alive clients.
  CHECK(report.mid_request <= 3 * 3);
}

TEST_CASE(
    "validate passes a user's nginx.conf with the README's additions and "
    "names the file and line of each misconfiguration with exit 2",
    "[nginx_checks_e2e]") {
  Service svc;
  RequireStartWithV1(&svc, UserOptions());
  const std::string conf_path = svc.nginx().nginx_conf();
  const std::string good = UserConf(svc.port());
  const std::string upstream_file = svc.nginx().upstream_file();
  const std::string access_log = svc.nginx().access_log_path();
  auto at = [&](const std::string& text, const std::string& needle) {
    return conf_path + ":" + std::to_string(LineOf(text, needle)) + ": ";
  };
  // Writes `conf` and runs validate with `config` (default bgctl.yaml).
  auto validate = [&](const std::string& conf, const std::string& config) {
    REQUIRE(WriteWholeFile(conf_path, conf));
    return svc.Bgctl({"validate"}, config);
  };

  CommandResult ok = validate(good, "");
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.err == "");

  {
    INFO("the upstream file copied in instead of included");
    std::string conf =
        Replace(good, "    include upstream.conf;\n",
                bgctl::RenderPlaceholderUpstream("svc", svc.blue()));
    CommandResult r = validate(conf, "");
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bgctl: " + at(conf, "http {") +
                       "the http block does not include the upstream file " +
                       upstream_file + " (add \"include " + upstream_file +
                       ";\")\n");
  }
  {
    INFO("no probe location");
    std::string conf =
        Replace(good, "return 200 $bgctl_generation;", "return 204;");
    CommandResult r = validate(conf, "");
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          "bgctl: " + at(conf, "server {") +
              "no probe location: the server listening on port " +
              std::to_string(svc.port()) +
              " has no \"location = /__bgctl/generation { allow 127.0.0.1; "
              "deny all; return 200 $bgctl_generation; }\" (nginx.probe_url " +
              svc.nginx().probe_url() + ")\n");
  }
  {
    INFO("no access log in bgctl's format");
    std::string conf = Replace(good, "access_log logs/access.log bgctl;",
                               "access_log logs/access.log;");
    CommandResult r = validate(conf, "");
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bgctl: " + at(conf, "access_log logs/access.log;") +
                       "no access log in bgctl's format: access_log " +
                       access_log + " uses nginx's combined format\n");
  }
  {
    INFO("a second $bgctl_generation map");
    std::string conf =
        Replace(good, "    include upstream.conf;\n",
                "    include upstream.conf;\n"
                "    map $host $bgctl_generation { default \"0\"; }\n");
    std::string upstream = ReadWholeFile(upstream_file);
    CommandResult r = validate(conf, "");
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bgctl: " + at(conf, "    map $host") +
                       "a second map sets $bgctl_generation (the first is at " +
                       upstream_file + ":" +
                       std::to_string(LineOf(upstream, "map $host")) +
                       "), and nginx uses the last one: keep only the one in " +
                       upstream_file + "\n");
  }
  {
    INFO("upstream keep-alive without HTTP/1.1 and an empty Connection");
    ServiceOptions o = UserOptions();
    o.nginx_extra = "  upstream_keepalive: 32\n";
    std::string config = svc.WriteConfig("keepalive.yaml", o);
    CommandResult r = validate(good, config);
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          "bgctl: " + at(good, "location / {") +
              "upstream keep-alive without HTTP/1.1 and an empty Connection "
              "header: nginx.upstream_keepalive is 32, but this location "
              "proxies to svc without \"proxy_http_version 1.1;\" and "
              "\"proxy_set_header Connection \"\";\" (nginx then marks "
              "servers failed and answers 502)\n");
    std::string fixed =
        Replace(good, "proxy_pass http://svc;",
                "proxy_pass http://svc; proxy_http_version 1.1; "
                "proxy_set_header Connection \"\";");
    CommandResult r2 = validate(fixed, config);
    INFO(r2.out << r2.err);
    CHECK(r2.exit_code == 0);
  }
  {
    INFO("the lua switch without the Lua module or the bgctl shared dict");
    ServiceOptions o = UserOptions();
    o.nginx_switch = "lua";
    std::string config = svc.WriteConfig("lua.yaml", o);
    CommandResult r = validate(good, config);
    CHECK(r.exit_code == 2);
    CHECK(
        r.err ==
        "bgctl: " + conf_path +
            ":1: nginx.switch is lua but nginx does not load the Lua module "
            "(add \"load_module /usr/lib/nginx/modules/ndk_http_module.so;\" "
            "and \"load_module "
            "/usr/lib/nginx/modules/ngx_http_lua_module.so;\" at the top of " +
            conf_path + ")\nbgctl: " + at(good, "http {") +
            "nginx.switch is lua but the http block has no "
            "\"lua_shared_dict bgctl 1m;\"\nbgctl: " +
            at(good, "http {") +
            "nginx.switch is lua but no server listening on port " +
            std::to_string(svc.port()) +
            " has the control location of nginx.lua.control_url "
            "http://127.0.0.1:" +
            std::to_string(svc.port()) +
            "/__bgctl/split (\"location = /__bgctl/split { allow 127.0.0.1; "
            "deny all; content_by_lua_block { require(\"bgctl\").control() "
            "} }\")\n");
    std::string lua =
        "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
        "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n" +
        Replace(Replace(good, "    include upstream.conf;\n",
                        "    include upstream.conf;\n"
                        "    lua_shared_dict bgctl 1m;\n"
                        "    lua_package_path \"" +
                            std::string(BGCTL_SOURCE_DIR) +
                            "/nginx/lua/?.lua;;\";\n"),
                "        location / {\n",
                "        location = /__bgctl/split { allow 127.0.0.1; deny "
                "all; content_by_lua_block { require(\"bgctl\").control() } "
                "}\n        location / {\n");
    // validate asks the running nginx's control location: it runs this.
    REQUIRE(WriteWholeFile(conf_path, lua));
    REQUIRE(RunCommand(svc.nginx().reload_command(), 20000).exit_code == 0);
    REQUIRE(WaitFor(
        [&] { return Fetch(svc.port(), "/__bgctl/split").status == 409; },
        5000));
    CommandResult r2 = validate(lua, config);
    INFO(r2.out << r2.err);
    CHECK(r2.exit_code == 0);
    // The loaded file is the reload switch's: validate says what comes.
    CHECK(r2.out.find("was not written for the lua switch") !=
          std::string::npos);
  }
}

TEST_CASE(
    "validate says so when nginx -T cannot run (exit 1) and when "
    "test_command has no -t to derive it from (exit 2)",
    "[nginx_checks_e2e]") {
  Service svc;
  RequireStartWithV1(&svc, UserOptions());
  // A wrapper like a sudo rule that allows `nginx -t` only: it runs nginx
  // for -t (also spelled --test) and refuses -T.
  const std::string wrapper = svc.dir() + "/nginx-wrapper";
  REQUIRE(WriteWholeFile(wrapper,
                         "#!/bin/sh\n"
                         "case \"$1\" in\n"
                         "  -T) echo \"not allowed: nginx -T\" >&2; exit 1 ;;\n"
                         "  --test) shift; exec /usr/sbin/nginx -t \"$@\" ;;\n"
                         "esac\n"
                         "exec /usr/sbin/nginx \"$@\"\n"));
  REQUIRE(chmod(wrapper.c_str(), 0755) == 0);
  auto config_with = [&](const std::string& name, const std::string& flag) {
    std::string yaml = ReadWholeFile(svc.config_path());
    std::vector<std::string> argv = svc.nginx().test_command();
    std::string from = "[\"" + argv[0] + "\", \"-t\"";
    std::string to = "[\"" + wrapper + "\", \"" + flag + "\"";
    yaml = Replace(yaml, from, to);
    std::string path = svc.dir() + "/" + name;
    REQUIRE(WriteWholeFile(path, yaml));
    return path;
  };
  CommandResult refused = svc.Bgctl({"validate"}, config_with("t.yaml", "-t"));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err ==
        "bgctl: cannot check the live nginx configuration: nginx -T failed: "
        "not allowed: nginx -T\n");
  std::string no_t = config_with("test.yaml", "--test");
  CommandResult usage = svc.Bgctl({"validate"}, no_t);
  CHECK(usage.exit_code == 2);
  CHECK(usage.err == "bgctl: " + no_t +
                         ": nginx.test_command: has no -t, so validate cannot "
                         "derive `nginx -T` from it to check the live "
                         "configuration\n");
}
