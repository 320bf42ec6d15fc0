// nginx.switch: lua and its nginx.lua keys.
#include <catch2/catch.hpp>
#include <string>

#include "controller/config.h"

namespace {

using bgctl::Config;
using bgctl::SwitchKind;

// The required keys; nginx.switch is line 3, nginx.lua starts at line 10.
const char kHead[] =
    "service: demo\n"
    "nginx:\n"
    "  switch: lua\n"  // 3
    "  upstream_file: nginx/run/upstream.conf\n"
    "  upstream_name: demo_backend\n"
    "  test_command: [nginx, -t]\n"
    "  reload_command: [nginx, -s, reload]\n"
    "  access_log: nginx/run/logs/access.log\n"
    "  probe_url: http://127.0.0.1:8080/__bgctl/generation\n";  // 9
const char kTail[] =
    "slots:\n"
    "  blue: {port: 8081}\n"
    "  green: {port: 8082}\n"
    "backend:\n"
    "  command: [backend-sample, --port, \"{port}\"]\n";

bool Parse(const std::string& lua, Config* c, std::string* err,
           const std::string& head = kHead) {
  return bgctl::ParseConfig(head + lua + kTail, "bgctl.yaml", c, err);
}

std::string ErrorOf(const std::string& lua, const std::string& head = kHead) {
  Config c;
  std::string err;
  return Parse(lua, &c, &err, head) ? "(no error)" : err;
}

TEST_CASE(
    "the lua switch defaults to a control URL beside the probe, no preview "
    "header and no sticky cookie",
    "[config]") {
  Config c;
  std::string err;
  REQUIRE(Parse("", &c, &err));
  CHECK(c.nginx.switch_kind == SwitchKind::kLua);
  CHECK(c.nginx.lua.control_url == "http://127.0.0.1:8080/__bgctl/split");
  CHECK(c.nginx.lua.control_host == "127.0.0.1");
  CHECK(c.nginx.lua.control_port == 8080);
  CHECK(c.nginx.lua.control_path == "/__bgctl/split");
  CHECK(c.nginx.lua.preview_header.empty());
  CHECK(c.nginx.lua.sticky_cookie.empty());
  CHECK(c.nginx.lua.control_url_where == "bgctl.yaml:9: nginx.probe_url");
}

TEST_CASE("nginx.lua keys are read", "[config]") {
  Config c;
  std::string err;
  REQUIRE(
      Parse("  lua:\n"
            "    control_url: http://127.0.0.2:9000/__bgctl/split\n"
            "    preview_header: X-Try-Canary\n"
            "    sticky_cookie: demo_canary\n",
            &c, &err));
  CHECK(c.nginx.lua.control_host == "127.0.0.2");
  CHECK(c.nginx.lua.control_port == 9000);
  CHECK(c.nginx.lua.control_path == "/__bgctl/split");
  CHECK(c.nginx.lua.control_url_where ==
        "bgctl.yaml:11: nginx.lua.control_url");
  CHECK(c.nginx.lua.preview_header == "X-Try-Canary");
  CHECK(c.nginx.lua.sticky_cookie == "demo_canary");
  REQUIRE(Parse("  lua: {preview_header: none}\n", &c, &err));
  CHECK(c.nginx.lua.preview_header.empty());
}

TEST_CASE("a control URL off loopback is refused with its file, line and key",
          "[config]") {
  CHECK(ErrorOf("  lua:\n"
                "    control_url: http://10.0.0.5:8080/__bgctl/split\n") ==
        "bgctl.yaml:11: nginx.lua.control_url: host \"10.0.0.5\" is not a "
        "loopback address (127.0.0.1 or ::1): the control location must "
        "never be reachable from outside");
  CHECK(ErrorOf("  lua:\n"
                "    control_url: https://127.0.0.1/x\n") ==
        "bgctl.yaml:11: nginx.lua.control_url: bad URL "
        "\"https://127.0.0.1/x\": expected http://HOST:PORT/PATH");
}

TEST_CASE(
    "a control URL with CR or LF, a space, '#', '+' in the port or another "
    "path is refused with its file, line and key",
    "[config]") {
  const std::string bad = "bgctl.yaml:11: nginx.lua.control_url: bad URL: ";
  const std::string chars =
      "must not hold spaces, control characters (CR, LF), '#' or '?'";
  for (const char* url :
       {"\"http://127.0.0.1:8080/__bgctl/split\\r\\nX-Injected: 1\"",
        "\"http://127.0.0.1:8080/__bgctl/split\\n\"",
        "\"http://127.0.0.1:8080/__bgctl/split HTTP/1.0\"",
        "\"http://127.0.0.1:8080/__bgctl/split#x\""}) {
    INFO(url);
    CHECK(ErrorOf(std::string("  lua:\n    control_url: ") + url + "\n") ==
          bad + chars);
  }
  CHECK(ErrorOf("  lua:\n    control_url: http://127.0.0.1:+8080/__bgctl/"
                "split\n") == bad + "the port must be digits only");
  CHECK(ErrorOf("  lua:\n    control_url: http://127.0.0.1:8080/x\n") ==
        "bgctl.yaml:11: nginx.lua.control_url: bad URL "
        "\"http://127.0.0.1:8080/x\": the path must be /__bgctl/split, the "
        "control location's (got /x)");
}

TEST_CASE("a probe URL off loopback is refused as the default control URL",
          "[config]") {
  std::string head = kHead;
  head.replace(head.find("127.0.0.1:8080"), 9, "192.0.2.1");
  CHECK(ErrorOf("", head) ==
        "bgctl.yaml:9: nginx.probe_url: host \"192.0.2.1\" is not a loopback "
        "address (127.0.0.1 or ::1): the control location must never be "
        "reachable from outside");
}

TEST_CASE("bad header and cookie names are refused", "[config]") {
  CHECK(ErrorOf("  lua: {preview_header: \"X Canary\"}\n") ==
        "bgctl.yaml:10: nginx.lua.preview_header: invalid header name \"X "
        "Canary\": use 1-64 characters of A-Z a-z 0-9 - (or none)");
  CHECK(ErrorOf("  lua: {sticky_cookie: \"a=b\"}\n") ==
        "bgctl.yaml:10: nginx.lua.sticky_cookie: invalid cookie name \"a=b\": "
        "use 1-64 characters of A-Z a-z 0-9 _ -");
}

TEST_CASE("the reload switch never checks a control URL", "[config]") {
  std::string head = kHead;
  head.replace(head.find("switch: lua"), 11, "switch: reload");
  head.replace(head.find("127.0.0.1:8080"), 9, "localhost");
  Config c;
  std::string err;
  CHECK(Parse("", &c, &err, head));
  CHECK(c.nginx.lua.control_url.empty());
}

TEST_CASE("nginx.lua with the reload switch is refused", "[config]") {
  std::string head = kHead;
  head.replace(head.find("switch: lua"), 11, "switch: reload");
  CHECK(ErrorOf("  lua: {sticky_cookie: c}\n", head) ==
        "bgctl.yaml:10: nginx.lua: only used with nginx.switch: lua");
}

}  // namespace
