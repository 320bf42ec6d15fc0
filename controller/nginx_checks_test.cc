#include "controller/nginx_checks.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "controller/upstream_file.h"

namespace bgctl {
namespace {

const char kMain[] = "/srv/app/nginx.conf";
const char kUpstreamFile[] = "/srv/app/upstream.conf";
const char kFormatFile[] = "/srv/app/bgctl_log_format.conf";

// A user's own nginx.conf with exactly the README's three additions (lines
// 4, 5 and 6 and the probe location at 10); line numbers below refer to it.
const char kGood[] =
    "events {}\n"                                     // 1
    "http {\n"                                        // 2
    "    sendfile on;\n"                              // 3
    "    include bgctl_log_format.conf;\n"            // 4
    "    access_log /var/log/nginx/app.log bgctl;\n"  // 5
    "    include upstream.conf;\n"                    // 6
    "    server {\n"                                  // 7
    "        listen 8080;\n"                          // 8
    "        server_name shop.example;\n"             // 9
    "        location = /__bgctl/generation { allow 127.0.0.1; deny all; "
    "return 200 $bgctl_generation; }\n"     // 10
    "        location / {\n"                // 11
    "            proxy_pass http://app;\n"  // 12
    "        }\n"                           // 13
    "    }\n"                               // 14
    "}\n";                                  // 15

NginxConfig Cfg() {
  NginxConfig n;
  n.upstream_file = kUpstreamFile;
  n.upstream_name = "app";
  n.access_log = "/var/log/nginx/app.log";
  n.probe_url = "http://127.0.0.1:8080/__bgctl/generation";
  n.probe_host = "127.0.0.1";
  n.probe_port = 8080;
  n.probe_path = "/__bgctl/generation";
  return n;
}

std::string ShippedLogFormat() {
  std::ifstream f(std::string(BGCTL_SOURCE_DIR) +
                  "/nginx/bgctl_log_format.conf");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// kGood with the first `from` replaced by `to` (`from` must be there).
std::string With(const std::string& from, const std::string& to,
                 std::string text = kGood) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// The problems found in `main` (with the upstream file bgctl writes and the
// shipped log format beside it), one a line.
std::string Problems(const std::string& main, const NginxConfig& cfg = Cfg(),
                     const std::string& upstream =
                         RenderUpstream("app", {{8081, 90}, {8082, 10}}, 3),
                     std::vector<std::string>* warnings = nullptr) {
  std::string dump = "nginx: the configuration file " + std::string(kMain) +
                     " syntax is ok\n# configuration file " + kMain + ":\n" +
                     main + "\n# configuration file " + kFormatFile + ":\n" +
                     ShippedLogFormat() + "\n# configuration file " +
                     kUpstreamFile + ":\n" + upstream + "\n";
  std::vector<NginxFile> files;
  std::vector<std::string> problems;
  std::string err;
  REQUIRE(SplitNginxDump(dump, &files, &err));
  REQUIRE(CheckNginxConf(files, cfg, "/usr/share/nginx", &problems, &err,
                         warnings));
  std::string out;
  for (const std::string& p : problems) out += p + "\n";
  return out;
}

}  // namespace

TEST_CASE(
    "a user's nginx.conf with exactly the README's three additions has no "
    "problem",
    "[nginx_checks]") {
  CHECK(Problems(kGood) == "");
  CHECK(Problems(With("listen 8080;", "listen 127.0.0.1:8080 default_server;"))
            .empty());
  CHECK(Problems(With("listen 8080;", "listen [::1]:8080;")).empty());
  CHECK(Problems(With("proxy_pass http://app;", "proxy_pass http://app/api;"))
            .empty());
}

TEST_CASE(
    "validate names the http block when the upstream file is not included",
    "[nginx_checks]") {
  CHECK(Problems(With("include upstream.conf;", "# no include")) ==
        "/srv/app/nginx.conf:2: the http block does not include the upstream "
        "file /srv/app/upstream.conf (add \"include "
        "/srv/app/upstream.conf;\")\n");
  // An upstream of that name from another file is not the one bgctl writes.
  CHECK(Problems(With("include upstream.conf;",
                      "upstream app { server 127.0.0.1:8081; }")) ==
        "/srv/app/nginx.conf:2: the http block does not include the upstream "
        "file /srv/app/upstream.conf (add \"include "
        "/srv/app/upstream.conf;\")\n");
}

TEST_CASE(
    "a typo in nginx.upstream_name makes validate say so, not that the "
    "upstream file is not included",
    "[nginx_checks]") {
  NginxConfig typo = Cfg();
  typo.upstream_name = "ap";
  CHECK(Problems(kGood, typo) ==
        "/srv/app/upstream.conf:2: the upstream file /srv/app/upstream.conf "
        "is included, but it defines upstream app, not ap: check "
        "nginx.upstream_name in bgctl.yaml (a typo?)\n");
}

TEST_CASE(
    "on the reload switch validate warns about client keep-alive with the "
    "exact line to add, and keepalive_timeout 0 or the lua switch silence "
    "it",
    "[nginx_checks]") {
  const std::string upstream =
      RenderUpstream("app", {{8081, 90}, {8082, 10}}, 3);
  std::vector<std::string> warnings;
  CHECK(Problems(kGood, Cfg(), upstream, &warnings) == "");
  CHECK(warnings ==
        std::vector<std::string>{
            "/srv/app/nginx.conf:11: client keep-alive is on "
            "(keepalive_timeout 75s, nginx's default): on the reload switch "
            "every traffic step reloads nginx, whose old workers then close "
            "their idle keep-alive connections, and a request a client sends "
            "on one at that instant fails; add \"keepalive_timeout 0;\" to "
            "the server block at /srv/app/nginx.conf:7, or use nginx.switch: "
            "lua (no reload; Debian: libnginx-mod-http-lua)"});
  warnings.clear();
  CHECK(Problems(With("sendfile on;", "keepalive_timeout 0s;"), Cfg(), upstream,
                 &warnings) == "");
  CHECK(warnings.empty());
  NginxConfig lua = Cfg();
  lua.switch_kind = SwitchKind::kLua;
  Problems(kGood, lua, upstream, &warnings);
  CHECK(warnings.empty());
}

TEST_CASE(
    "validate names the server without the probe location, or the http "
    "block when no server listens on the probe's port",
    "[nginx_checks]") {
  CHECK(Problems(With("return 200 $bgctl_generation;", "return 200 ok;")) ==
        "/srv/app/nginx.conf:7: no probe location: the server listening on "
        "port 8080 has no \"location = /__bgctl/generation { allow "
        "127.0.0.1; deny all; return 200 $bgctl_generation; }\" (nginx."
        "probe_url http://127.0.0.1:8080/__bgctl/generation)\n");
  CHECK(Problems(With("listen 8080;", "listen 127.0.0.1:9090;")) ==
        "/srv/app/nginx.conf:2: no probe location: no server listens on port "
        "8080 of nginx.probe_url http://127.0.0.1:8080/__bgctl/generation\n");
}

TEST_CASE(
    "validate names the location whose requests are not logged in bgctl's "
    "format, and the access_log whose format lacks bgctl's fields",
    "[nginx_checks]") {
  CHECK(Problems(With("access_log /var/log/nginx/app.log bgctl;",
                      "access_log /var/log/nginx/other.log bgctl;")) ==
        "/srv/app/nginx.conf:11: no access log in bgctl's format: requests "
        "proxied to app here are not logged to /var/log/nginx/app.log (add "
        "\"include bgctl_log_format.conf;\" and \"access_log "
        "/var/log/nginx/app.log bgctl;\")\n");
  // access_log in the location replaces the http block's.
  CHECK(Problems(With("proxy_pass http://app;",
                      "proxy_pass http://app; access_log off;")) ==
        "/srv/app/nginx.conf:11: no access log in bgctl's format: requests "
        "proxied to app here are not logged to /var/log/nginx/app.log (add "
        "\"include bgctl_log_format.conf;\" and \"access_log "
        "/var/log/nginx/app.log bgctl;\")\n");
  CHECK(Problems(With("access_log /var/log/nginx/app.log bgctl;",
                      "access_log /var/log/nginx/app.log;")) ==
        "/srv/app/nginx.conf:5: no access log in bgctl's format: access_log "
        "/var/log/nginx/app.log uses nginx's combined format\n");
}

TEST_CASE("a log format without bgctl's fields is named with what it lacks",
          "[nginx_checks]") {
  std::string main =
      With("include bgctl_log_format.conf;",
           "log_format bgctl '{\"msec\":$msec,\"status\":$status}';");
  CHECK(Problems(main) ==
        "/srv/app/nginx.conf:5: no access log in bgctl's format: access_log "
        "/var/log/nginx/app.log uses log_format bgctl "
        "(/srv/app/nginx.conf:4), which lacks escape=json, "
        "\"request_time\":$request_time and "
        "\"upstream_addr\":\"$upstream_addr\"\n");
}

TEST_CASE("a relative access_log path is resolved against nginx's prefix",
          "[nginx_checks]") {
  NginxConfig cfg = Cfg();
  cfg.access_log = "/usr/share/nginx/logs/access.log";
  CHECK(Problems(With("/var/log/nginx/app.log", "logs/access.log"), cfg) == "");
  CHECK(NginxPrefixOf({"nginx", "-t", "-p", "run", "-c", "nginx.conf"},
                      "/srv/app") == "/srv/app/run");
  CHECK(NginxPrefixOf({"nginx", "-t", "-p", "/opt/n/"}, "/srv/app") ==
        "/opt/n/");
  CHECK(NginxPrefixOf({"nginx", "-t"}, "/srv/app") == "/usr/share/nginx");
}

TEST_CASE("validate names a second map of $bgctl_generation and the first",
          "[nginx_checks]") {
  CHECK(Problems(With("    sendfile on;\n",
                      "    map $host $bgctl_generation { default 0; }\n")) ==
        "/srv/app/upstream.conf:7: a second map sets $bgctl_generation (the "
        "first is at /srv/app/nginx.conf:3), and nginx uses the last one: "
        "keep only the one in /srv/app/upstream.conf\n");
}

TEST_CASE(
    "upstream keep-alive without HTTP/1.1 and an empty Connection header "
    "is named at each location that proxies to the upstream",
    "[nginx_checks]") {
  NginxConfig cfg = Cfg();
  cfg.upstream_keepalive = 32;
  const std::string prefix =
      "/srv/app/nginx.conf:11: upstream keep-alive without HTTP/1.1 and an "
      "empty Connection header: ";
  CHECK(Problems(kGood, cfg) ==
        prefix +
            "nginx.upstream_keepalive is 32, but this location proxies to app "
            "without \"proxy_http_version 1.1;\" and \"proxy_set_header "
            "Connection \"\";\" (nginx then marks servers failed and answers "
            "502)\n");
  // A keepalive line in the upstream file counts even with the key at 0.
  CHECK(Problems(kGood, Cfg(), RenderUpstream("app", {{8081, 100}}, 3, 16)) ==
        prefix +
            "\"keepalive 16\" at /srv/app/upstream.conf:5, but this location "
            "proxies to app without \"proxy_http_version 1.1;\" and "
            "\"proxy_set_header Connection \"\";\" (nginx then marks servers "
            "failed and answers 502)\n");
  // Set in the server, inherited by the location: enough.
  std::string server_level =
      With("listen 8080;",
           "listen 8080; proxy_http_version 1.1; proxy_set_header Connection "
           "\"\";");
  CHECK(Problems(server_level, cfg) == "");
  // A proxy_set_header in the location replaces all inherited ones.
  CHECK(Problems(With("proxy_pass http://app;",
                      "proxy_pass http://app; proxy_set_header Host $host;",
                      server_level),
                 cfg) ==
        prefix +
            "nginx.upstream_keepalive is 32, but this location proxies to app "
            "without \"proxy_set_header Connection \"\";\" (nginx then marks "
            "servers failed and answers 502)\n");
}

TEST_CASE(
    "on the lua switch validate names a missing Lua module, a missing "
    "bgctl shared dict and a missing control location",
    "[nginx_checks]") {
  NginxConfig cfg = Cfg();
  cfg.switch_kind = SwitchKind::kLua;
  cfg.lua.control_url = "http://127.0.0.1:8080/__bgctl/split";
  cfg.lua.control_host = "127.0.0.1";
  cfg.lua.control_port = 8080;
  cfg.lua.control_path = "/__bgctl/split";
  const std::string no_control =
      "/srv/app/nginx.conf:2: nginx.switch is lua but no server listening on "
      "port 8080 has the control location of nginx.lua.control_url "
      "http://127.0.0.1:8080/__bgctl/split (\"location = /__bgctl/split { "
      "allow 127.0.0.1; deny all; content_by_lua_block { "
      "require(\"bgctl\").control() } }\")\n";
  CHECK(Problems(kGood, cfg) ==
        "/srv/app/nginx.conf:1: nginx.switch is lua but nginx does not load "
        "the Lua module (add \"load_module "
        "/usr/lib/nginx/modules/ndk_http_module.so;\" and \"load_module "
        "/usr/lib/nginx/modules/ngx_http_lua_module.so;\" at the top of "
        "/srv/app/nginx.conf)\n"
        "/srv/app/nginx.conf:2: nginx.switch is lua but the http block has no "
        "\"lua_shared_dict bgctl 1m;\"\n" +
            no_control);
  std::string lua =
      "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
      "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n" +
      With("    sendfile on;\n", "    lua_shared_dict bgctl 1m;\n",
           With("        location / {\n",
                "        location = /__bgctl/split { allow 127.0.0.1; deny "
                "all; content_by_lua_block { require(\"bgctl\").control() } "
                "}\n        location / {\n"));
  CHECK(Problems(lua, cfg) == "");
  CHECK(Problems(With("/__bgctl/split", "/other", lua), cfg) ==
        With(":2:", ":4:", no_control));
  CHECK(Problems(With("lua_shared_dict bgctl", "lua_shared_dict other", lua),
                 cfg) ==
        "/srv/app/nginx.conf:4: nginx.switch is lua but the http block has no "
        "\"lua_shared_dict bgctl 1m;\"\n");
}

TEST_CASE(
    "no location proxying to the upstream is a problem of its own, and every "
    "problem is reported in one run",
    "[nginx_checks]") {
  CHECK(Problems("events {}\nhttp {\n}\n") ==
        "/srv/app/nginx.conf:2: the http block does not include the upstream "
        "file /srv/app/upstream.conf (add \"include "
        "/srv/app/upstream.conf;\")\n"
        "/srv/app/nginx.conf:2: no probe location: no server listens on port "
        "8080 of nginx.probe_url http://127.0.0.1:8080/__bgctl/generation\n"
        "/srv/app/nginx.conf:2: no location proxies to upstream app "
        "(\"proxy_pass http://app;\")\n");
}

}  // namespace bgctl
