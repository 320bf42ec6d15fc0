#include "controller/nginx_conf.h"

#include <catch2/catch.hpp>

#include "controller/fake_env.h"
#include "controller/process.h"
#include "tests/support/nginx_fixture.h"
#include "tests/support/ports.h"

namespace bgctl {
namespace {

// What `nginx -T` printed for a config with two included files (the
// messages go to stderr first; the dump to stdout).
const char kDump[] =
    "nginx: the configuration file /srv/ng/nginx.conf syntax is ok\n"
    "nginx: configuration file /srv/ng/nginx.conf test is successful\n"
    "# configuration file /srv/ng/nginx.conf:\n"
    "events {}\n"                                       // 1
    "http {\n"                                          // 2
    "    include conf.d/*.conf;\n"                      // 3
    "    server {\n"                                    // 4
    "        listen 127.0.0.1:8080;  # the port\n"      // 5
    "        location / { proxy_pass http://demo; }\n"  // 6
    "        location = \"/__bgctl/generation\" {\n"    // 7
    "            return 200 $bgctl_generation;\n"       // 8
    "        }\n"                                       // 9
    "    }\n"                                           // 10
    "}\n"                                               // 11
    "\n"
    "# configuration file /srv/ng/conf.d/b.conf:\n"
    "map $host $bgctl_generation { default \"3\"; }\n"
    "\n"
    "# configuration file /srv/ng/conf.d/a.conf:\n"
    "upstream demo {\n"
    "    server 127.0.0.1:8081 weight=100;\n"
    "}\n"
    "\n";

TEST_CASE(
    "an nginx -T dump splits into its files and the includes are expanded "
    "in place, each directive knowing its file and line",
    "[nginx_conf]") {
  std::vector<NginxFile> files;
  std::string err;
  REQUIRE(SplitNginxDump(kDump, &files, &err));
  REQUIRE(files.size() == 3);
  CHECK(files[0].path == "/srv/ng/nginx.conf");
  CHECK(files[1].path == "/srv/ng/conf.d/b.conf");
  CHECK(files[2].path == "/srv/ng/conf.d/a.conf");
  CHECK(files[1].text == "map $host $bgctl_generation { default \"3\"; }\n\n");

  std::vector<NginxDirective> root;
  REQUIRE(EffectiveNginxConf(files, &root, &err));
  REQUIRE(root.size() == 2);
  CHECK(root[0].name == "events");
  const NginxDirective& http = root[1];
  REQUIRE(http.children.size() == 3);
  // a.conf before b.conf: nginx expands a glob in sorted order.
  CHECK(http.children[0].name == "upstream");
  CHECK(WhereIs(http.children[0]) == "/srv/ng/conf.d/a.conf:1");
  CHECK(http.children[0].children[0].args ==
        std::vector<std::string>{"127.0.0.1:8081", "weight=100"});
  CHECK(http.children[1].name == "map");
  CHECK(http.children[1].args ==
        std::vector<std::string>{"$host", "$bgctl_generation"});
  const NginxDirective& server = http.children[2];
  CHECK(WhereIs(server) == "/srv/ng/nginx.conf:4");
  REQUIRE(server.children.size() == 3);
  CHECK(server.children[0].args == std::vector<std::string>{"127.0.0.1:8080"});
  CHECK(server.children[2].args ==
        std::vector<std::string>{"=", "/__bgctl/generation"});
  CHECK(server.children[2].children[0].line == 8);

  std::vector<std::string> seen;
  WalkNginxConf(root, [&](const NginxDirective& d,
                          const std::vector<const NginxDirective*>& parents) {
    if (d.name == "proxy_pass")
      seen.push_back(parents.back()->name + " in " +
                     parents[parents.size() - 2]->name + " in " +
                     parents.front()->name);
  });
  CHECK(seen == std::vector<std::string>{"location in server in http"});
}

TEST_CASE("lua blocks are kept as text with their braces, strings and comments",
          "[nginx_conf]") {
  std::vector<NginxDirective> out;
  std::string err;
  const std::string text =
      "upstream u {\n"
      "    server 0.0.0.1;\n"
      "    balancer_by_lua_block {\n"
      "        local t = { a = \"}\", b = '{' } -- } in a comment\n"
      "        local s = [[ } ]] --[==[ { ]==]\n"
      "    }\n"
      "    keepalive 32;\n"
      "}\n";
  REQUIRE(ParseNginxConf(text, "u.conf", &out, &err));
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].children.size() == 3);
  CHECK(out[0].children[1].name == "balancer_by_lua_block");
  CHECK(out[0].children[1].lua.find("local s = [[ } ]]") != std::string::npos);
  CHECK(out[0].children[1].children.empty());
  CHECK(out[0].children[2].name == "keepalive");
  CHECK(out[0].children[2].line == 7);
}

TEST_CASE("syntax errors name the file and line", "[nginx_conf]") {
  std::vector<NginxDirective> out;
  std::string err;
  CHECK_FALSE(ParseNginxConf("http {\n  server {\n", "n.conf", &out, &err));
  CHECK(err == "n.conf:2: unterminated block");
  CHECK_FALSE(ParseNginxConf("events {}\n}\n", "n.conf", &out, &err));
  CHECK(err == "n.conf:2: unexpected \"}\"");
  CHECK_FALSE(ParseNginxConf("worker_processes 2\n", "n.conf", &out, &err));
  CHECK(err == "n.conf:1: directive \"worker_processes\" has no closing \";\"");
  CHECK_FALSE(ParseNginxConf("set $a \"x;\n", "n.conf", &out, &err));
  CHECK(err == "n.conf:1: unterminated string");
  CHECK_FALSE(ParseNginxConf("http { ; }", "n.conf", &out, &err));
  CHECK(err == "n.conf:1: unexpected \";\"");
  std::vector<NginxFile> files;
  CHECK_FALSE(
      SplitNginxDump("nginx: [emerg] unknown directive\n", &files, &err));
  CHECK(err == "nginx -T printed no configuration file");
}

TEST_CASE(
    "the dump command is the test command with -T, and a failing nginx -T "
    "says why",
    "[nginx_conf]") {
  CHECK(
      DumpCommand({"/usr/sbin/nginx", "-t", "-q", "-p", "p", "-c", "c"}) ==
      std::vector<std::string>{"/usr/sbin/nginx", "-T", "-p", "p", "-c", "c"});
  CHECK(DumpCommand({"nginx", "-s", "reload"}).empty());
  fake::FakeProcessRunner runner;
  runner.Script("nginx -T", RunResult{1, false, "nginx: [emerg] bad\n"});
  std::vector<NginxFile> files;
  std::string err;
  CHECK_FALSE(DumpNginxConf(&runner, {"nginx", "-t"}, "/srv", &files, &err));
  CHECK(err == "nginx -T failed: nginx: [emerg] bad");
  CHECK(runner.runs().at(0).workdir == "/srv");
  runner.Script("nginx -T", RunResult{0, false, kDump});
  REQUIRE(DumpNginxConf(&runner, {"nginx", "-t"}, "/srv", &files, &err));
  CHECK(files.size() == 3);
  CHECK_FALSE(DumpNginxConf(&runner, {"nginx"}, "/srv", &files, &err));
  CHECK(err ==
        "nginx.test_command has no -t: cannot derive `nginx -T` from it");
}

}  // namespace
}  // namespace bgctl

namespace bgctl {
namespace {

TEST_CASE(
    "the shipped nginx.conf read back through a real nginx -T has the "
    "upstream include expanded and the probe location in its server",
    "[nginx_conf]") {
  testing::NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start("demo_backend", testing::PickFreePort(), &err));
  std::vector<NginxFile> files;
  REQUIRE(DumpNginxConf(RealProcessRunner(), nginx.test_command(),
                        nginx.prefix(), &files, &err));
  CHECK(files[0].path == nginx.nginx_conf());
  std::vector<NginxDirective> root;
  REQUIRE(EffectiveNginxConf(files, &root, &err));
  std::vector<std::string> found;
  WalkNginxConf(root, [&](const NginxDirective& d,
                          const std::vector<const NginxDirective*>& parents) {
    if (d.name == "upstream" && parents.size() == 1)
      found.push_back(
          "upstream " + d.args.at(0) + " at " +
          (d.file == nginx.upstream_file() ? "upstream.conf:" : "?:") +
          std::to_string(d.line));
    if (d.name == "location" && d.args.size() == 2 &&
        d.args[1] == "/__bgctl/generation")
      found.push_back("probe in " + parents.back()->name);
  });
  CHECK(found ==
        std::vector<std::string>{"upstream demo_backend at upstream.conf:2",
                                 "probe in server"});
}

// "ADDR PARAMS..." as one listen directive, read by ParseListen; "refused"
// when it fails, else "host|port|flags".
std::string Listen(const std::vector<std::string>& args) {
  NginxDirective d;
  d.name = "listen";
  d.args = args;
  NginxListen l;
  if (!ParseListen(d, &l)) return "refused";
  std::string flags = std::string(l.unix_socket ? "unix " : "") +
                      (l.ipv6 ? "ipv6 " : "") + (l.tls ? "tls " : "") +
                      (l.is_default ? "default " : "");
  if (!flags.empty()) flags.pop_back();
  return l.host + "|" + std::to_string(l.port) + "|" + flags;
}

TEST_CASE(
    "a listen address reads as nginx reads it: host, port 80 when "
    "none is given, IPv6, unix sockets, ssl and default_server",
    "[nginx_conf]") {
  CHECK(Listen({"127.0.0.1:8080"}) == "127.0.0.1|8080|");
  CHECK(Listen({"8080", "default_server"}) == "|8080|default");
  CHECK(Listen({"*:8443", "ssl", "http2"}) == "|8443|tls");
  CHECK(Listen({"example.com"}) == "example.com|80|");
  CHECK(Listen({"localhost:81", "default"}) == "localhost|81|default");
  CHECK(Listen({"[::]:8080"}) == "::|8080|ipv6");
  CHECK(Listen({"[::1]", "quic"}) == "::1|80|ipv6 tls");
  CHECK(Listen({"unix:/run/app.sock"}) == "/run/app.sock|0|unix");
  CHECK(Listen({"127.0.0.1:0"}) == "refused");
  CHECK(Listen({"127.0.0.1:65536"}) == "refused");
  CHECK(Listen({"127.0.0.1:"}) == "refused");
  CHECK(Listen({"127.0.0.1:http"}) == "refused");
  CHECK(Listen({"[::1"}) == "refused");
  CHECK(Listen({"[::1]8080"}) == "refused");
  CHECK(Listen({}) == "refused");
}

}  // namespace
}  // namespace bgctl
