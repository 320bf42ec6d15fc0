#include "controller/upstream_file.h"

#include <catch2/catch.hpp>

namespace bgctl {
namespace {

std::string Describe(const std::vector<UpstreamServer>& servers) {
  std::string s;
  for (const UpstreamServer& u : servers) {
    s += std::to_string(u.port) + "@" + std::to_string(u.weight) + " ";
  }
  return s;
}

TEST_CASE(
    "the upstream file renders servers in order with zone, passive failure "
    "marking off, no keepalive unless asked, and the generation map",
    "[upstream_file]") {
  std::string text =
      RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 7);
  CHECK(text ==
        "# written by bgctl, generation 7; do not edit\n"
        "upstream demo_backend {\n"
        "    zone demo_backend 64k;\n"
        "    server 127.0.0.1:8081 weight=90 max_fails=0;\n"
        "    server 127.0.0.1:8082 weight=10 max_fails=0;\n"
        "}\n"
        "map $host $bgctl_generation {\n"
        "    default \"7\";\n"
        "}\n");
  CHECK(RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 7, 0) == text);
}

TEST_CASE(
    "the upstream file holds keepalive N after the servers when "
    "nginx.upstream_keepalive is N",
    "[upstream_file]") {
  CHECK(RenderUpstream("demo_backend", {{8081, 100}}, 3, 32) ==
        "# written by bgctl, generation 3; do not edit\n"
        "upstream demo_backend {\n"
        "    zone demo_backend 64k;\n"
        "    server 127.0.0.1:8081 weight=100 max_fails=0;\n"
        "    keepalive 32;\n"
        "}\n"
        "map $host $bgctl_generation {\n"
        "    default \"3\";\n"
        "}\n");
  UpstreamFileContents c;
  std::string err;
  REQUIRE(ParseUpstreamFile(
      RenderUpstream("demo_backend", {{8081, 60}, {8082, 40}}, 4, 8),
      "demo_backend", &c, &err));
  CHECK(c.generation == 4);
  CHECK(Describe(c.servers) == "8081@60 8082@40 ");
}

TEST_CASE("the placeholder upstream is generation 0 with its only server down",
          "[upstream_file]") {
  CHECK(RenderPlaceholderUpstream("svc", 9001) ==
        "# written by bgctl, generation 0; do not edit\n"
        "upstream svc {\n"
        "    zone svc 64k;\n"
        "    server 127.0.0.1:9001 down;\n"
        "}\n"
        "map $host $bgctl_generation {\n"
        "    default \"0\";\n"
        "}\n");
}

TEST_CASE(
    "a split is stable only at 0%, both at 10%, canary only at 100% "
    "and canary only when nothing is stable",
    "[upstream_file]") {
  CHECK(Describe(ServersForSplit(8081, 8082, 0)) == "8081@100 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 10)) == "8081@90 8082@10 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 99)) == "8081@1 8082@99 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 100)) == "8082@100 ");
  CHECK(Describe(ServersForSplit(0, 8082, 10)) == "8082@100 ");
  CHECK(Describe(ServersForSplit(0, 8082, 0)) == "8082@100 ");
}

TEST_CASE(
    "a split of several servers per side weighs each one, and a split with "
    "no stable side or no canary is one-sided",
    "[upstream_file]") {
  TrafficSplit split;
  split.stable = {{"127.0.0.1", 8081}, {"10.0.0.2", 9001}};
  split.canary = {{"::1", 8082}};
  split.canary_weight = 25;
  CHECK(Describe(ServersFor(split)) == "8081@75 9001@75 8082@25 ");
  CHECK(RenderUpstream("u", ServersFor(split), 3)
            .find("    server 10.0.0.2:9001 weight=75 max_fails=0;\n"
                  "    server [::1]:8082 weight=25 max_fails=0;\n") !=
        std::string::npos);
  split.canary.clear();
  CHECK(EffectiveCanaryWeight(split) == 0);
  split.canary = {{"127.0.0.1", 8082}};
  split.stable.clear();
  split.canary_weight = 10;
  CHECK(EffectiveCanaryWeight(split) == 100);
  CHECK(Describe(ServersFor(split)) == "8082@100 ");
}

TEST_CASE("servers nginx would reject are named before anything is written",
          "[upstream_file]") {
  std::string err;
  CHECK_FALSE(CheckServers({}, &err));
  CHECK(err == "invalid upstream: no servers");
  CHECK_FALSE(CheckServers({{0, 100}}, &err));
  CHECK(err == "invalid upstream: port 0 (must be 1-65535)");
  CHECK_FALSE(CheckServers({{8081, 0}}, &err));
  CHECK(err == "invalid upstream: weight 0 for port 8081 (must be 1-100)");
  CHECK_FALSE(CheckServers({{8081, 50, "backend.local"}}, &err));
  CHECK(err ==
        "invalid upstream: host \"backend.local\" (must be a numeric "
        "address)");
  CHECK(CheckServers({{8081, 50, "::1"}, {8082, 50}}, &err));
}

TEST_CASE(
    "an upstream file bgctl wrote is read back with its generation and "
    "servers, the placeholder with none",
    "[upstream_file]") {
  UpstreamFileContents c;
  std::string err;
  REQUIRE(ParseUpstreamFile(
      RenderUpstream("demo", {{8081, 90}, {8082, 10, "::1"}}, 12), "demo", &c,
      &err));
  CHECK(c.generation == 12);
  REQUIRE(c.servers.size() == 2);
  CHECK(c.servers[0].port == 8081);
  CHECK(c.servers[0].weight == 90);
  CHECK(c.servers[0].host == "127.0.0.1");
  CHECK(c.servers[1].port == 8082);
  CHECK(c.servers[1].weight == 10);
  CHECK(c.servers[1].host == "::1");
  REQUIRE(ParseUpstreamFile(RenderPlaceholderUpstream("demo", 8081), "demo", &c,
                            &err));
  CHECK(c.generation == 0);
  CHECK(c.servers.empty());
  CHECK_FALSE(ParseUpstreamFile("upstream demo { server 1.2.3.4:80; }\n",
                                "demo", &c, &err));
  CHECK(err ==
        "not written by bgctl (no \"# written by bgctl, generation N\" "
        "first line)");
  CHECK_FALSE(ParseUpstreamFile(RenderUpstream("other", {{8081, 100}}, 1),
                                "demo", &c, &err));
  CHECK(err == "no upstream demo");
}

}  // namespace
}  // namespace bgctl
