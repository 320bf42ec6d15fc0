// The nginx config reader's bounds: how deep blocks may nest, how much
// `nginx -T` output is read, and what a large block of data costs.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "controller/nginx_conf.h"
#include "controller/process.h"

namespace bgctl {
namespace {

// `depth` blocks, each opened on its own line, nested in one another.
std::string Nested(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "location /x {\n";
  text += "return 200;\n";
  for (int i = 0; i < depth; ++i) text += "}\n";
  return text;
}

TEST_CASE(
    "20,000 nested blocks are refused at the first block past the bound, "
    "with its file and line, and the parser does not crash",
    "[nginx_conf]") {
  std::vector<NginxDirective> out;
  std::string err;
  CHECK_FALSE(ParseNginxConf(Nested(20000), "deep.conf", &out, &err));
  CHECK(err ==
        "deep.conf:101: blocks nested more than 100 deep: bgctl reads "
        "no deeper");
  std::vector<NginxFile> dump = {{"/etc/nginx/nginx.conf", Nested(20000)}};
  CHECK_FALSE(EffectiveNginxConf(dump, &out, &err));
  CHECK(err ==
        "/etc/nginx/nginx.conf:101: blocks nested more than 100 deep: "
        "bgctl reads no deeper");
}

TEST_CASE("blocks nested exactly as deep as the bound are read",
          "[nginx_conf]") {
  std::vector<NginxDirective> out;
  std::string err;
  REQUIRE(ParseNginxConf(Nested(kMaxNginxBlockDepth), "ok.conf", &out, &err));
  const NginxDirective* d = &out.at(0);
  for (int i = 1; i < kMaxNginxBlockDepth; ++i) d = &d->children.at(0);
  REQUIRE(d->children.size() == 1);
  CHECK(d->children[0].name == "return");
  CHECK(d->children[0].line == kMaxNginxBlockDepth + 1);
}

TEST_CASE(
    "the entries of a map are checked for syntax but not kept as directives",
    "[nginx_conf]") {
  std::vector<NginxDirective> out;
  std::string err;
  const std::string text =
      "map $host $x {\n"
      "    default 0;\n"
      "    proxy_pass 1;\n"
      "}\n"
      "geo $y { 10.0.0.0/8 1; }\n"
      "server { listen 80; }\n";
  REQUIRE(ParseNginxConf(text, "m.conf", &out, &err));
  REQUIRE(out.size() == 3);
  CHECK(out[0].name == "map");
  CHECK(out[0].args == std::vector<std::string>{"$host", "$x"});
  CHECK(out[0].block);
  CHECK(out[0].children.empty());
  CHECK(out[1].children.empty());
  CHECK(out[2].children.size() == 1);
  CHECK(out[2].line == 6);
  CHECK_FALSE(
      ParseNginxConf("map $a $b {\n  \"x 1;\n}\n", "m.conf", &out, &err));
  CHECK(err == "m.conf:2: unterminated string");
}

TEST_CASE(
    "includes that multiply a file without end are refused at the bound on "
    "directives, naming where",
    "[nginx_conf]") {
  // Each level includes itself twice: 2^32 copies without a bound.
  std::vector<NginxFile> dump = {
      {"/etc/nginx/nginx.conf", "events {}\ninclude conf.d/*.conf;\n"},
      {"/etc/nginx/conf.d/a.conf",
       "include conf.d/a.conf;\ninclude conf.d/a.conf;\nworker_priority 0;\n"}};
  std::vector<NginxDirective> out;
  std::string err;
  CHECK_FALSE(EffectiveNginxConf(dump, &out, &err, 1000));
  CHECK(err ==
        "/etc/nginx/conf.d/a.conf:3: the configuration expands to more than "
        "1000 directives (includes that repeat files?): bgctl reads no more");
  CHECK(out.empty());
  // Once, it expands: events, then a.conf's two directives (its include
  // names no dumped file, so it stays).
  dump[1].text = "include conf.d/b.conf;\nworker_priority 0;\n";
  REQUIRE(EffectiveNginxConf(dump, &out, &err, 1000));
  CHECK(out.size() == 3);
}

// A test command whose -t becomes -T: `sh -c SCRIPT -T` runs SCRIPT.
std::vector<std::string> ScriptTest(const std::string& script) {
  return {"/bin/sh", "-c", script, "-t"};
}

TEST_CASE(
    "nginx -T output over the run-output limit is read whole, so a 2 MB "
    "configuration parses to its last directive",
    "[nginx_conf]") {
  // 60,000 lines of 36 bytes: 2.1 MB, twice kMaxRunOutput.
  const std::string script =
      "printf '# configuration file /etc/nginx/nginx.conf:\\nhttp {\\n'; "
      "yes '    server_names_hash_max_size 512;' | head -n 60000; "
      "printf '    include mime.types;\\n}\\n'";
  std::vector<NginxFile> files;
  std::string err;
  REQUIRE(
      DumpNginxConf(RealProcessRunner(), ScriptTest(script), "", &files, &err));
  std::vector<NginxDirective> root;
  REQUIRE(EffectiveNginxConf(files, &root, &err));
  REQUIRE(root.size() == 1);
  REQUIRE(root[0].children.size() == 60001);
  CHECK(root[0].children.back().name == "include");
  CHECK(root[0].children.back().line == 60002);
  CHECK(files[0].text.size() > 2 * kMaxRunOutput);
}

TEST_CASE(
    "nginx -T output over what bgctl reads is refused with its size, never "
    "parsed cut short",
    "[nginx_conf]") {
  const std::string script =
      "printf '# configuration file /etc/nginx/nginx.conf:\\n'; "
      "yes '# a comment line of a configuration far too large' | "
      "head -c 70000000";
  std::vector<NginxFile> files;
  std::string err;
  CHECK_FALSE(
      DumpNginxConf(RealProcessRunner(), ScriptTest(script), "", &files, &err));
  CHECK(err ==
        "nginx -T printed 70000044 bytes, more than bgctl reads (67108864): "
        "the configuration is too large to check");
}

}  // namespace
}  // namespace bgctl
