// A load generator for the demo and the benchmarks: sends requests through
// nginx on 127.0.0.1 and prints what every request got, so a deploy's failed
// requests can be counted. Uses the same LoadGenerator as the tests.
//
//   load_client --port 8080 --seconds 10 --connections 4 [--rate 200]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "tests/support/load.h"

int main(int argc, char** argv) {
  bgctl::testing::LoadOptions o;
  double seconds = 10;
  CLI::App app{"load_client: steady HTTP load on 127.0.0.1 with exact counts"};
  app.add_option("--port", o.port, "port on 127.0.0.1")->required();
  app.add_option("--seconds", seconds, "how long")->capture_default_str();
  app.add_option("--connections", o.threads, "concurrent clients")
      ->capture_default_str();
  app.add_option("--rate", o.rate, "requests/s in all (0: flat out)")
      ->capture_default_str();
  app.add_option("--post-share", o.post_share, "share of POST requests")
      ->capture_default_str();
  app.add_option("--keep-alive-share", o.keep_alive_share,
                 "share of clients that keep their connection open")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.duration_ms = static_cast<int64_t>(seconds * 1000);
  bgctl::testing::LoadGenerator load(o);
  load.Start();
  load.Wait(static_cast<int>(o.duration_ms) + 30000);
  bgctl::testing::LoadReport r = load.Stop();
  std::printf(
      "load: %lld requests, %lld ok, %lld failed (%lld non-2xx, %lld "
      "connection errors); p50 %.1f ms, p99 %.1f ms\n",
      static_cast<long long>(r.sent), static_cast<long long>(r.ok),
      static_cast<long long>(r.non2xx + r.errors),
      static_cast<long long>(r.non2xx), static_cast<long long>(r.errors),
      r.p50_ms, r.p99_ms);
  std::printf("load: answers by version:");
  for (const auto& [version, n] : r.per_version)
    std::printf(" %s=%lld", version.empty() ? "(none)" : version.c_str(),
                static_cast<long long>(n));
  std::printf("\n");
  for (const std::string& f : r.failures)
    std::printf("load:   %s\n", f.c_str());
  return 0;
}
