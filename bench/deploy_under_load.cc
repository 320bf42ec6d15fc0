// Benchmark: what a deploy costs the users of a service under steady load,
// bgctl against a naive restart, and what bgctl's traffic step costs against
// the bare commands a script would run.
//
//   build/bench/deploy_under_load [--rate 400] [--seconds 5] [--runs 3]
//
// Each run, in one process (this one sends the load through nginx):
//  1. bgctl: a real nginx (nginx/ template), backend-sample, bgctl.yaml
//     (tests/support/service.h). Deploys v1, then sends --rate req/s (half
//     the threads keep-alive, half a fresh connection per request; 30% POST)
//     for --seconds with no deploy (steady state), then `bgctl deploy` v2 and
//     v3 (steps 10% 1s, 50% 1s, 100%) with --output json.
//  2. The bare step (bench/bare_reload.h), under the same load on the same
//     nginx, 10 times: write the upstream file (RenderUpstream), `nginx -t`,
//     `nginx -s reload` (each run with posix_spawn + waitpid, as a shell
//     would), poll the probe over a new connection every 5 ms. Three stopping
//     points are timed in each iteration: the first answer of the new
//     generation (what a naive script waits for, NOT safe: the old workers keep
//     accepting for ~100 ms), the new generation answered continuously for 150
//     ms, and the new generation answered after the old workers released the
//     listening socket (/proc/PID/fd; the listener's inode is found over
//     netlink first, and that time is added). A /proc/net/tcp read is timed for
//     comparison. The p99 of requests started during bgctl's steps (weight
//     event t_ms - reload_ms .. t_ms) and during the bare sequences is printed
//     too.
//  3. naive: another nginx whose upstream is one port; a "deploy" stops the
//     backend (SIGTERM, wait for exit), starts the new version on the same
//     port and waits until it listens. Same load, steady state first, then
//     two such restarts.
// Prints requests, failed requests (non-2xx and connection errors), p50/p99
// in the steady state and during the switch, wall time minus configured
// pauses, and per-step times with ratios; then a summary over all runs with
// the targets. Everything started is stopped at exit (RAII).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/bare_reload.h"
#include "bench/bench_util.h"
#include "controller/reload_switch.h"
#include "tests/support/nginx_fixture.h"
#include "tests/support/ports.h"

namespace bgctl::bench {
namespace {

using testing::ChildProcess;
using testing::LoadGenerator;
using testing::LoadOptions;
using testing::LoadReport;
using testing::Service;
using testing::ServiceOptions;

constexpr int64_t kPausesMs = 2000;    // 1s at 10% + 1s at 50%
constexpr int64_t kNaiveTailMs = 500;  // switch window after "listening"

LoadOptions MakeLoad(int port, double rate) {
  LoadOptions o;
  o.port = port;
  o.rate = rate;
  o.threads = std::max(8, static_cast<int>(std::ceil(rate / 50)));
  o.duration_ms = 300000;  // stopped explicitly long before
  o.keep_alive_share = 0.5;
  o.post_share = 0.3;
  o.timeout_ms = 5000;
  return o;
}

// What one side (bgctl or naive) measured in one run.
struct SideResult {
  bool ok = true;
  std::string problem;
  Slice steady;
  Slice during;
  // bgctl only: requests started while a step's Apply ran (weight event
  // t_ms - reload_ms .. t_ms), and the rest of the deploy windows.
  std::vector<std::pair<int64_t, int64_t>> reloads;
  Slice in_reloads, between;
  Slice in_bare;  // requests started during the bare sequences
  int64_t sent_total = 0;
  int64_t failed_total = 0;  // the whole run, bare sequence included
  std::vector<double> wall_minus_pauses_ms;
  std::vector<std::string> failures;  // LoadReport::failures
};

// bgctl's per-step figures from its JSON events.
struct StepTimes {
  std::vector<double> reload_ms;  // "weight" events' reload_ms
  std::vector<double> gap_ms;     // time between steps minus the pause
  std::vector<std::string> breakdown;
};

// Per-step figures of one deploy from its JSON events.
void AddStepTimes(const BgctlRun& run, StepTimes* steps) {
  const std::vector<int64_t> pauses = {0, 1000, 1000};
  int64_t prev_t = -1;
  std::vector<nlohmann::json> healthy = Events(run.doc, "healthy");
  if (!healthy.empty()) prev_t = healthy[0].value("t_ms", int64_t{-1});
  std::vector<nlohmann::json> weights = Events(run.doc, "weight");
  for (size_t i = 0; i < weights.size(); ++i) {
    int64_t t = weights[i].value("t_ms", int64_t{0});
    steps->reload_ms.push_back(weights[i].value("switch_ms", 0.0));
    if (prev_t >= 0 && i < pauses.size())
      steps->gap_ms.push_back(static_cast<double>(t - prev_t - pauses[i]));
    prev_t = t;
  }
  std::string line;
  for (const nlohmann::json& e : run.doc["events"]) {
    std::string kind = e.value("event", "");
    std::string extra;
    if (kind == "healthy") extra = std::to_string(e.value("healthy_ms", 0));
    if (kind == "weight") extra = std::to_string(e.value("switch_ms", 0));
    if (kind == "drained") extra = std::to_string(e.value("drain_ms", 0));
    if (kind == "window") continue;
    line += kind + "@" + std::to_string(e.value("t_ms", 0)) +
            (extra.empty() ? "" : "(" + extra + ")") + " ";
  }
  steps->breakdown.push_back(line);
}

// Part 1 and 2 of a run. Fills *bgctl, *steps and *bare.
void RunBgctlSide(double rate, double seconds, SideResult* side,
                  StepTimes* steps, BareResult* bare) {
  Service svc;
  ServiceOptions so;
  so.steps =
      "[{weight: 10, pause: 1s}, {weight: 50, pause: 1s}, {weight: 100}]";
  so.analysis =
      "{interval: 1s, min_requests: 20, failure_limit: 1, "
      "max_error_rate: 0.05, max_p99_latency: 500ms, "
      "max_latency_ratio: 5}";
  std::string err;
  if (!svc.Start(so, &err)) {
    side->ok = false;
    side->problem = "cannot start nginx: " + err;
    return;
  }
  BgctlRun first = RunBgctlJson(&svc, {"deploy", "--version", "v1"});
  if (first.exit_code != 0) {
    side->ok = false;
    side->problem = "first deploy failed: " + first.err;
    return;
  }
  LoadGenerator load(MakeLoad(svc.port(), rate));
  load.Start();
  const int64_t t0 = load.started_at_ms();
  SleepMs(500);
  int64_t steady_from = NowMs() - t0;
  SleepMs(seconds * 1000);
  int64_t steady_to = NowMs() - t0;
  std::vector<std::pair<int64_t, int64_t>> deploys;
  for (const char* v : {"v2", "v3"}) {
    BgctlRun run = RunBgctlJson(&svc, {"deploy", "--version", v});
    deploys.push_back(
        {run.launched_ms - t0, run.launched_ms + run.wall_ms - t0});
    if (run.exit_code != 0 || run.doc.is_null()) {
      side->ok = false;
      side->problem += std::string("deploy ") + v + " exited " +
                       std::to_string(run.exit_code) + ": " + run.err + "\n";
    } else {
      AddStepTimes(run, steps);
      for (const nlohmann::json& w : Events(run.doc, "weight")) {
        int64_t end = run.launched_ms - t0 + w.value("t_ms", int64_t{0});
        side->reloads.push_back({end - w.value("switch_ms", int64_t{0}), end});
      }
      side->wall_minus_pauses_ms.push_back(
          static_cast<double>(run.wall_ms - kPausesMs));
    }
    SleepMs(300);
  }
  int stable_port =
      svc.BackendPids(svc.blue()).empty() ? svc.green() : svc.blue();
  *bare = RunBare(&svc, stable_port);
  LoadReport report = load.Stop();
  side->steady = SliceOf(report, {{steady_from, steady_to}});
  side->during = SliceOf(report, deploys);
  side->in_reloads = SliceOf(report, side->reloads);
  std::vector<std::pair<int64_t, int64_t>> bare_windows;
  for (const BareTimes& t : bare->times)
    bare_windows.push_back({t.from_ms - t0, t.to_ms - t0});
  side->in_bare = SliceOf(report, bare_windows);
  for (const testing::RequestRecord& r : report.records) {
    auto in = [&](const std::vector<std::pair<int64_t, int64_t>>& ws) {
      for (const auto& [from, to] : ws)
        if (r.start_ms >= from && r.start_ms < to) return true;
      return false;
    };
    if (in(deploys) && !in(side->reloads)) AddToSlice(r, &side->between);
  }
  FinishSlice(&side->between);
  side->sent_total = report.sent;
  side->failed_total = report.non2xx + report.errors;
  side->failures = report.failures;
}

// Part 3 of a run.
void RunNaiveSide(double rate, double seconds, SideResult* side) {
  testing::NginxFixture ngx;
  int port = testing::PickFreePort();
  std::string err;
  if (!ngx.Start("naive", port, &err)) {
    side->ok = false;
    side->problem = "cannot start nginx: " + err;
    return;
  }
  std::ofstream(ngx.upstream_file(), std::ios::trunc)
      << RenderUpstream("naive", {{port, 100}}, 1);
  if (!CheckedRun(ngx.test_command(), &err) ||
      !CheckedRun(ngx.reload_command(), &err)) {
    side->ok = false;
    side->problem = err;
    return;
  }
  std::vector<std::unique_ptr<ChildProcess>> backends;
  auto start_backend = [&](const std::string& version) {
    backends.push_back(std::make_unique<ChildProcess>());
    return backends.back()->Start({BACKEND_SAMPLE_BIN, "--port",
                                   std::to_string(port), "--version", version},
                                  {}, &err) &&
           testing::WaitForPort(port, 10000);
  };
  if (!start_backend("v1")) {
    side->ok = false;
    side->problem = "backend v1 did not start: " + err;
    return;
  }
  // The reload above is confirmed once its old workers are surely gone.
  SleepMs(500);
  LoadGenerator load(MakeLoad(ngx.port(), rate));
  load.Start();
  const int64_t t0 = load.started_at_ms();
  SleepMs(500);
  int64_t steady_from = NowMs() - t0;
  SleepMs(seconds * 1000);
  int64_t steady_to = NowMs() - t0;
  std::vector<std::pair<int64_t, int64_t>> switches;
  for (const char* v : {"v2", "v3"}) {
    int64_t from = NowMs();
    backends.back()->Signal(SIGTERM);
    int status = 0;
    bool exited = backends.back()->WaitExit(15000, &status);
    bool up = exited && start_backend(v);
    int64_t to = NowMs();
    switches.push_back({from - t0, to + kNaiveTailMs - t0});
    side->wall_minus_pauses_ms.push_back(static_cast<double>(to - from));
    if (!up) {
      side->ok = false;
      side->problem += std::string("restart to ") + v + " failed\n";
      break;
    }
    SleepMs(kNaiveTailMs + 1000);
  }
  LoadReport report = load.Stop();
  side->steady = SliceOf(report, {{steady_from, steady_to}});
  side->during = SliceOf(report, switches);
  side->sent_total = report.sent;
  side->failed_total = report.non2xx + report.errors;
  side->failures = report.failures;
}

std::string Fmt(double v, const char* format = "%.1f") {
  char buf[32];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string FmtList(const std::vector<double>& v, const char* format = "%.1f") {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ", ") + Fmt(x, format);
  return s;
}

void PrintSides(const SideResult& b, const SideResult& n) {
  auto row = [](const char* name, const std::string& x, const std::string& y) {
    std::printf("  %-34s %-22s %s\n", name, x.c_str(), y.c_str());
  };
  auto i = [](int64_t v) { return std::to_string(v); };
  row("", "bgctl (2 deploys)", "naive (2 restarts)");
  row("requests sent (whole run)", i(b.sent_total), i(n.sent_total));
  row("requests during the switches", i(b.during.sent), i(n.during.sent));
  row("failed: non-2xx", i(b.during.non2xx), i(n.during.non2xx));
  row("failed: connection errors", i(b.during.errors()), i(n.during.errors()));
  row("  (refused / lost mid-request)",
      i(b.during.refused) + " / " + i(b.during.mid_request),
      i(n.during.refused) + " / " + i(n.during.mid_request));
  row("failed in steady state", i(b.steady.failed()), i(n.steady.failed()));
  row("failed in the whole run", i(b.failed_total), i(n.failed_total));
  row("p50 ms steady -> switch", Fmt(b.steady.p50) + " -> " + Fmt(b.during.p50),
      Fmt(n.steady.p50) + " -> " + Fmt(n.during.p50));
  row("p99 ms steady -> switch", Fmt(b.steady.p99) + " -> " + Fmt(b.during.p99),
      Fmt(n.steady.p99) + " -> " + Fmt(n.during.p99));
  row("p99 ratio switch/steady", Ratio(b.during.p99, b.steady.p99),
      Ratio(n.during.p99, n.steady.p99));
  row("max ms during the switch", Fmt(b.during.max), Fmt(n.during.max));
  row("bgctl p99 ms: in its reloads / rest",
      Fmt(b.in_reloads.p99) + " / " + Fmt(b.between.p99) + " (" +
          std::to_string(b.in_reloads.sent) + " / " +
          std::to_string(b.between.sent) + " req)",
      "");
  row("p99 ms during the bare sequences",
      Fmt(b.in_bare.p99) + " (" + std::to_string(b.in_bare.sent) + " req)", "");
  row("wall time minus pauses, ms", FmtList(b.wall_minus_pauses_ms),
      FmtList(n.wall_minus_pauses_ms));
  for (const SideResult* s : {&b, &n})
    for (const std::string& f : s->failures)
      std::printf("    %s failure: %s\n", s == &b ? "bgctl" : "naive",
                  f.c_str());
}

void PrintSteps(const StepTimes& steps, const BareResult& bare) {
  double bgctl = Median(steps.reload_ms);
  std::printf("  bgctl per step (reload_ms of its weight events): %s\n",
              FmtList(steps.reload_ms).c_str());
  std::printf(
      "  bgctl median per step %.1f ms; between steps minus pause: "
      "median %.1f ms (%s)\n",
      bgctl, Median(steps.gap_ms), FmtList(steps.gap_ms).c_str());
  for (const std::string& line : steps.breakdown)
    std::printf("  bgctl events (t_ms): %s\n", line.c_str());
  if (!bare.ok) {
    std::printf("  bare sequence FAILED: %s\n", bare.problem.c_str());
    return;
  }
  BareMedians m = Medians(bare);
  std::printf(
      "  bare sequence, median of %zu (ms from the write): write "
      "%.1f, nginx -t done %.1f, reload done %.1f\n",
      bare.times.size(), m.write, m.test, m.reload);
  std::printf(
      "    first new answer        %6.1f ms  bgctl/bare %s  (NOT "
      "safe: %d old answers after the first new one in %zu "
      "iterations)\n",
      m.first, Ratio(bgctl, m.first).c_str(), m.old_after_new,
      bare.times.size());
  std::printf("    new for 150 ms in a row %6.1f ms  bgctl/bare %s\n", m.streak,
              Ratio(bgctl, m.streak).c_str());
  std::printf(
      "    old workers released    %6.1f ms  bgctl/bare %s  (includes "
      "%.1f ms to find the listener's inode over netlink; the same from "
      "/proc/net/tcp takes %.1f ms with %zu sockets in it now)\n",
      m.release, Ratio(bgctl, m.release).c_str(), m.find_listener,
      m.proc_net_tcp, ProcNetTcpLines());
}

struct Totals {
  int64_t bgctl_failed = 0, naive_failed = 0, bgctl_sent = 0, naive_sent = 0;
  std::vector<double> bgctl_p99_ratio, naive_p99_ratio, bgctl_step, bare_first,
      bare_streak, bare_release, bgctl_wall, naive_wall;
  std::vector<double> step_ratio;  // bgctl step / bare (released), per run
  bool all_ok = true;
};

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  using namespace bgctl::bench;
  double rate = 400, seconds = 5;
  int runs = 3;
  CLI::App app{
      "deploy_under_load: bgctl deploys vs a naive restart under "
      "steady load, and bgctl's step vs the bare nginx commands"};
  app.add_option("--rate", rate, "requests/s through nginx")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "steady-state seconds before deploys")
      ->capture_default_str();
  app.add_option("--runs", runs, "repetitions")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::printf(
      "deploy_under_load: rate %.0f req/s (%d threads, half "
      "keep-alive, half fresh connections; 30%% POST), steady %.0f s, "
      "%d run(s); bgctl steps 10%% 1s, 50%% 1s, 100%%\n",
      rate, MakeLoad(0, rate).threads, seconds, runs);
  Totals tot;
  for (int run = 1; run <= runs; ++run) {
    int64_t started = NowMs();
    SideResult b, n;
    StepTimes steps;
    BareResult bare;
    RunBgctlSide(rate, seconds, &b, &steps, &bare);
    RunNaiveSide(rate, seconds, &n);
    std::printf("\nrun %d (%.1f s)\n", run, (NowMs() - started) / 1000.0);
    for (const SideResult* s : {&b, &n})
      if (!s->ok)
        std::printf("  %s PROBLEM: %s\n", s == &b ? "bgctl" : "naive",
                    s->problem.c_str());
    PrintSides(b, n);
    PrintSteps(steps, bare);
    tot.all_ok &= b.ok && n.ok && bare.ok;
    tot.bgctl_failed += b.during.failed() + b.steady.failed();
    tot.naive_failed += n.during.failed();
    tot.bgctl_sent += b.sent_total;
    tot.naive_sent += n.sent_total;
    tot.bgctl_p99_ratio.push_back(b.during.p99 / std::max(b.steady.p99, 1e-9));
    tot.naive_p99_ratio.push_back(n.during.p99 / std::max(n.steady.p99, 1e-9));
    tot.bgctl_step.push_back(Median(steps.reload_ms));
    tot.bgctl_wall.insert(tot.bgctl_wall.end(), b.wall_minus_pauses_ms.begin(),
                          b.wall_minus_pauses_ms.end());
    tot.naive_wall.insert(tot.naive_wall.end(), n.wall_minus_pauses_ms.begin(),
                          n.wall_minus_pauses_ms.end());
    if (bare.ok) {
      BareMedians m = Medians(bare);
      tot.bare_first.push_back(m.first);
      tot.bare_streak.push_back(m.streak);
      tot.bare_release.push_back(m.release);
      tot.step_ratio.push_back(Median(steps.reload_ms) / m.release);
    }
    std::fflush(stdout);
  }
  double step = Median(tot.bgctl_step);
  double rel = Median(tot.bare_release);
  std::printf("\nsummary over %d run(s)\n", runs);
  std::printf("  bgctl: %lld failed of %lld requests (target 0): %s\n",
              static_cast<long long>(tot.bgctl_failed),
              static_cast<long long>(tot.bgctl_sent),
              tot.bgctl_failed == 0 ? "met" : "MISSED");
  std::printf("  naive: %lld failed of %lld requests\n",
              static_cast<long long>(tot.naive_failed),
              static_cast<long long>(tot.naive_sent));
  int p99_met = 0, step_met = 0;
  for (double r : tot.bgctl_p99_ratio) p99_met += r <= 1.1;
  for (double r : tot.step_ratio) step_met += r <= 1.2;
  std::printf(
      "  bgctl p99 during deploy / steady, per run: %s (target <= 1.1: met "
      "in %d of %d runs)\n",
      FmtList(tot.bgctl_p99_ratio, "%.2f").c_str(), p99_met, runs);
  std::printf("  naive p99 during restart / steady, per run: %s\n",
              FmtList(tot.naive_p99_ratio, "%.2f").c_str());
  std::printf("  wall time minus pauses, ms: bgctl %s; naive %s\n",
              FmtList(tot.bgctl_wall).c_str(), FmtList(tot.naive_wall).c_str());
  std::printf("  bgctl per step (median per run), ms: %s\n",
              FmtList(tot.bgctl_step).c_str());
  std::printf(
      "  bare per step (median per run), ms: first new answer %s (unsafe); "
      "new for 150 ms %s; old workers released %s\n",
      FmtList(tot.bare_first).c_str(), FmtList(tot.bare_streak).c_str(),
      FmtList(tot.bare_release).c_str());
  std::printf(
      "  bgctl / bare (old workers released), per run: %s (target <= 1.2: "
      "met in %d of %d runs)\n",
      FmtList(tot.step_ratio, "%.2f").c_str(), step_met, runs);
  std::printf(
      "  medians over runs: bgctl %.1f ms; bgctl / first new answer %s "
      "(not a safe confirmation), / 150 ms streak %s, / old workers "
      "released %s\n",
      step, Ratio(step, Median(tot.bare_first)).c_str(),
      Ratio(step, Median(tot.bare_streak)).c_str(), Ratio(step, rel).c_str());
  return tot.all_ok ? 0 : 1;
}
