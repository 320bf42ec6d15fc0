// Benchmark: what the lua switch's balancer costs at saturation, against a
// plain weighted round-robin upstream, in the same nginx.
//
//   build/bench/balancer_cost [--rounds 3] [--seconds 5] [--connections 16]
//
// One real nginx rendered for nginx.switch: lua (nginx/nginx-lua.conf.template:
// the Lua module, the shared dict, the header filter, client keep-alive on)
// in front of two in-process backends (tests/support/http_backend.h), with
// 10% on the second. Each round runs wrk (keep-alive connections, 2 threads)
// for --seconds twice, once with each upstream file, and reloads nginx
// between them:
//   plain  the upstream the reload switch writes (RenderUpstream, zone
//          round robin);
//   lua    the one the lua switch writes (RenderLuaUpstream:
//          balancer_by_lua_block picking the peer from the shared dict).
// Everything else (config, workers, backends, wrk) is the same, so the
// ratio lua / plain of requests per second is the balancer's cost as a user
// sees it. Target: >= 0.9.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "controller/lua_upstream.h"
#include "controller/process.h"
#include "controller/upstream_file.h"
#include "tests/support/http_backend.h"
#include "tests/support/nginx_fixture.h"

namespace bgctl::bench {
namespace {

using testing::HttpBackend;
using testing::NginxFixture;

const char kName[] = "bgctl_bench";

// Writes `text` as nginx's upstream file and reloads nginx; waits until the
// old workers are gone. False with *err.
bool Install(NginxFixture* nginx, const std::string& text, std::string* err) {
  std::ofstream(nginx->upstream_file(), std::ios::trunc) << text;
  std::vector<std::string> reload = nginx->reload_command();
  RunResult r;
  if (!RealProcessRunner()->Run(reload, nginx->prefix(), 20000, &r, err))
    return false;
  if (r.exit_code != 0) {
    *err = "reload: " + r.output;
    return false;
  }
  for (int i = 0; i < 500 && nginx->WorkerPids().size() != 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return true;
}

// wrk's requests per second against `/`, or -1 with *err.
double Wrk(int port, int seconds, int connections, std::string* err) {
  RunResult r;
  std::vector<std::string> argv = {
      "wrk", "-t2", "-c" + std::to_string(connections),
      "-d" + std::to_string(seconds) + "s",
      "http://127.0.0.1:" + std::to_string(port) + "/"};
  if (!RealProcessRunner()->Run(argv, ".", (seconds + 30) * 1000, &r, err))
    return -1;
  std::smatch m;
  std::regex rps("Requests/sec:\\s*([0-9.]+)");
  if (r.exit_code != 0 || !std::regex_search(r.output, m, rps) ||
      r.output.find("Non-2xx") != std::string::npos) {
    *err = "wrk: " + r.output;
    return -1;
  }
  return std::stod(m[1]);
}

int Run(int rounds, int seconds, int connections) {
  std::string err;
  if (!NginxFixture::LuaAvailable(&err)) {
    std::fprintf(stderr, "balancer_cost: no Lua module: %s\n", err.c_str());
    return 1;
  }
  HttpBackend stable("S"), canary("C");
  NginxFixture nginx;
  if (!nginx.Start(kName, stable.port(), &err, /*lua_switch=*/true)) {
    std::fprintf(stderr, "balancer_cost: nginx: %s\n", err.c_str());
    return 1;
  }
  TrafficSplit split;
  split.stable = {Endpoint{"127.0.0.1", stable.port()}};
  split.canary = {Endpoint{"127.0.0.1", canary.port()}};
  split.canary_weight = 10;
  split.generation = 1;
  split.rollout_id = "bench";
  LuaSwitchConfig lua;
  // The file's split is served (no push), so any key does.
  const ControlKey key = ControlKeyOf(std::string(64, 'b'));
  const std::string plain = RenderUpstream(kName, ServersFor(split), 1);
  const std::string balanced = RenderLuaUpstream(
      kName, split, lua, key, {split.stable[0], split.canary[0]});
  std::vector<double> ratios;
  std::printf("%-6s %12s %12s %8s\n", "round", "plain req/s", "lua req/s",
              "lua/plain");
  for (int round = 1; round <= rounds; ++round) {
    double rps[2];
    const std::string* texts[2] = {&plain, &balanced};
    for (int i = 0; i < 2; ++i) {
      if (!Install(&nginx, *texts[i], &err) ||
          (rps[i] = Wrk(nginx.port(), seconds, connections, &err)) < 0) {
        std::fprintf(stderr, "balancer_cost: %s\n", err.c_str());
        return 1;
      }
    }
    ratios.push_back(rps[1] / rps[0]);
    std::printf("%-6d %12.0f %12.0f %8.3f\n", round, rps[0], rps[1],
                ratios.back());
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("median lua/plain: %.3f (target >= 0.9)\n",
              ratios[ratios.size() / 2]);
  return 0;
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  CLI::App app{"the lua balancer's throughput against a plain upstream"};
  int rounds = 3, seconds = 5, connections = 16;
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 20));
  app.add_option("--seconds", seconds)->check(CLI::Range(1, 60));
  app.add_option("--connections", connections)->check(CLI::Range(1, 512));
  CLI11_PARSE(app, argc, argv);
  return bgctl::bench::Run(rounds, seconds, connections);
}
