// Benchmark: how long the reload switch takes to confirm one step, by the
// way it is confirmed, against the bare sequence a shell script would run.
//
//   build/bench/confirm_reload [--applies 10]
//
// One real nginx (tests/support/nginx_fixture.h) in front of two in-process
// backends. For each way, `--applies` reload-switch applies in a row (the
// split alternating 0% / 50%), timed from the file write to the
// confirmation, with the median, min and max printed:
//   exact             bgctl: the new generation answers and every old worker
//                     let go of the listening socket (netlink / /proc);
//   settle 200 ms     bgctl's fallback when /proc cannot tell: 200 ms of
//                     steady new answers;
//   first new answer  the same in process, stopping at the first new answer;
//   bash script       write, `nginx -t`, `nginx -s reload`, curl until the new
//                     generation answers.
// After each apply, 50 new connections ask the generation probe: how many
// still reached the previous generation is printed ("wrong"). Between
// applies the old workers are let exit, as between two rollout steps.
// Last, what one look at the listener costs.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "controller/env.h"
#include "controller/process.h"
#include "controller/reload_switch.h"
#include "controller/sockets.h"
#include "controller/upstream_file.h"
#include "tests/support/http_backend.h"
#include "tests/support/nginx_fixture.h"

namespace bgctl::bench {
namespace {

using testing::HttpBackend;
using testing::NginxFixture;
using testing::WrongGenerations;

const char kName[] = "bgctl_bench";

// The sequence a bare shell script would run: write the file, nginx -t,
// nginx -s reload, poll with curl until the new generation answers.
const char kBareScript[] = R"SH(set -e
printf '%s' "$1" > upstream.conf.tmp
mv -f upstream.conf.tmp upstream.conf
"$3" -t -p "$PWD" -c "$PWD/nginx.conf" -e stderr 2>/dev/null
"$3" -s reload -p "$PWD" -c "$PWD/nginx.conf" -e stderr 2>/dev/null
for i in $(seq 2000); do
  [ "$(curl -s --max-time 1 "$4")" = "$2" ] && exit 0
  sleep 0.005
done
exit 1
)SH";

// Waits (up to 3 s) until nginx has exactly `n` workers.
void WaitForWorkers(const NginxFixture& nginx, size_t n) {
  for (int i = 0; i < 300 && nginx.WorkerPids().size() != n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

struct Way {
  const char* name;
  SocketInspector* inspector;
  int64_t settle_ms;
  bool script;
};

// One timed apply of `split` as `generation` the way `way` confirms it.
bool TimedApply(const Way& way, ReloadSwitch* ctl, const NginxFixture& nginx,
                const std::vector<UpstreamServer>& split, uint64_t generation,
                int64_t* elapsed, std::string* err) {
  if (!way.script) return ctl->Apply(split, generation, err, elapsed);
  Env env = RealEnv();
  int64_t start = env.clock->NowMs();
  RunResult result;
  if (!RealProcessRunner()->Run(
          {"/bin/bash", "-c", kBareScript, "bash",
           RenderUpstream(kName, split, generation), std::to_string(generation),
           "/usr/sbin/nginx", nginx.probe_url()},
          nginx.prefix(), 20000, &result, err))
    return false;
  *elapsed = env.clock->NowMs() - start;
  if (result.exit_code != 0) *err = "bash script: " + result.output;
  return result.exit_code == 0;
}

int Run(int applies) {
  HttpBackend a("A"), b("B");
  NginxFixture nginx;
  std::string err;
  if (!nginx.Start(kName, a.port(), &err)) {
    std::fprintf(stderr, "confirm_reload: nginx: %s\n", err.c_str());
    return 1;
  }
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), RealEnv());
  uint64_t generation = 0;
  std::printf("%-18s %-40s %s\n", "way", "ms per apply", "wrong");
  for (const Way& way : {Way{"exact", RealSocketInspector(), 200, false},
                         Way{"settle 200 ms", nullptr, 200, false},
                         Way{"first new answer", nullptr, 0, false},
                         Way{"bash script", nullptr, 0, true}}) {
    ctl.set_socket_inspector(way.inspector);
    ctl.set_settle_ms(way.settle_ms);
    std::vector<int64_t> times;
    int wrong = 0;
    for (int i = 0; i < applies; ++i) {
      int64_t elapsed = 0;
      ++generation;
      if (!TimedApply(way, &ctl, nginx,
                      ServersForSplit(a.port(), b.port(), i % 2 * 50),
                      generation, &elapsed, &err)) {
        std::fprintf(stderr, "confirm_reload: %s: %s\n", way.name, err.c_str());
        return 1;
      }
      times.push_back(elapsed);
      wrong += WrongGenerations(nginx.port(), generation, 50);
      WaitForWorkers(nginx, 2);
    }
    std::sort(times.begin(), times.end());
    size_t n = times.size();
    std::printf("%-18s median %6.1f (min %lld, max %lld)%14s %d of %d\n",
                way.name, (times[(n - 1) / 2] + times[n / 2]) / 2.0,
                static_cast<long long>(times.front()),
                static_cast<long long>(times.back()), "", wrong, 50 * applies);
  }
  Env env = RealEnv();
  int64_t start = env.clock->NowMs();
  for (int i = 0; i < 20; ++i) {
    Listener l;
    if (!RealSocketInspector()->FindListener("127.0.0.1", nginx.port(), &l,
                                             &err)) {
      std::fprintf(stderr, "confirm_reload: FindListener: %s\n", err.c_str());
      return 1;
    }
  }
  std::printf("FindListener: %.2f ms each\n",
              (env.clock->NowMs() - start) / 20.0);
  return 0;
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  CLI::App app{"reload-switch confirmation time by way, vs a bash script"};
  int applies = 10;
  app.add_option("--applies", applies, "applies per way")
      ->check(CLI::Range(2, 100));
  CLI11_PARSE(app, argc, argv);
  return bgctl::bench::Run(applies);
}
