// Benchmark: what a deploy costs the users of a service under steady load,
// bgctl against a naive restart, and what bgctl's traffic step costs against
// the bare commands a script would run.
//
//   build/bench/deploy_under_load [--rate 400] [--seconds 5] [--runs 3]
//                                 [--mix both|mixed|keep-alive]
//
// Two client mixes, each against the nginx.conf it fits:
//   mixed      half the threads keep-alive, half a fresh connection per
//              request, 30% POST; the shipped nginx.conf (client keep-alive
//              off, `keepalive_timeout 0`).
//   keep-alive every thread keeps its connection, 30% POST; the shipped
//              nginx.conf with nginx's default client keep-alive (75 s).
// For each mix, each run has one row per bgctl switch (BgctlSwitches() in
// bench_util.h) and one for the naive restart, in one process (this one
// sends the load through nginx):
//  1. bgctl on each switch: a real nginx (nginx/ template), backend-sample,
//     bgctl.yaml (tests/support/service.h). Deploys v1, then sends --rate
//     req/s for --seconds with no deploy (steady state), then `bgctl deploy`
//     v2 and v3 (steps 10% 1s, 50% 1s, 100%) with --output json.
//  2. The bare step (bench/bare_reload.h; the mixed mix on the reload switch
//     only), under the same load on the same nginx, 10 times: write the
//     upstream file (RenderUpstream), `nginx -t`, `nginx -s reload` (each run
//     with posix_spawn + waitpid, as a shell would), poll the probe over a new
//     connection every 5 ms. Three stopping points are timed in each iteration:
//     the first answer of the new generation (what a naive script waits for,
//     NOT safe: the old workers keep accepting for ~100 ms), the new generation
//     answered continuously for 150 ms, and the new generation answered after
//     the old workers released the listening socket (/proc/PID/fd; the
//     listener's inode is found over netlink first, and that time is added). A
//     /proc/net/tcp read is timed for comparison. The p99 of requests started
//     during bgctl's steps (weight event t_ms - reload_ms .. t_ms) and during
//     the bare sequences is printed too.
//  3. naive: another nginx whose upstream is one port; a "deploy" stops the
//     backend (SIGTERM, wait for exit), starts the new version on the same
//     port and waits until it listens. Same load, steady state first, then
//     two such restarts.
// Prints requests, failed requests (non-2xx and connection errors), p50/p99
// in the steady state and during the switch, time per step (bgctl: the
// weight events' switch_ms; naive: stop + start), wall time minus configured
// pauses, and bgctl's step against the bare commands; then a summary per mix
// and row over all runs with the targets. Everything started is stopped at exit
// (RAII).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
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

// Who sends the load, and whether nginx keeps client connections alive.
struct Mix {
  std::string name;
  double keep_alive_share = 0.5;
  bool client_keepalive = false;  // nginx's default keepalive_timeout
};

const std::vector<Mix>& Mixes() {
  static const std::vector<Mix> kMixes = {{"mixed", 0.5, false},
                                          {"keep-alive", 1.0, true}};
  return kMixes;
}

LoadOptions MakeLoad(int port, double rate, const Mix& mix) {
  LoadOptions o;
  o.port = port;
  o.rate = rate;
  o.threads = std::max(8, static_cast<int>(std::ceil(rate / 50)));
  o.duration_ms = 300000;  // stopped explicitly long before
  o.keep_alive_share = mix.keep_alive_share;
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
  std::vector<double> step_ms;  // bgctl: switch_ms per step; naive: restart
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

// Part 1 (and 2 with `bare` not null) of a run on `switch_name`. Fills
// *side, *steps and *bare.
void RunBgctlSide(double rate, double seconds, const Mix& mix,
                  const std::string& switch_name, SideResult* side,
                  StepTimes* steps, BareResult* bare) {
  Service svc;
  ServiceOptions so;
  UseSwitch(switch_name, mix.client_keepalive, &so);
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
  LoadGenerator load(MakeLoad(svc.port(), rate, mix));
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
  side->step_ms = steps->reload_ms;
  int stable_port =
      svc.BackendPids(svc.blue()).empty() ? svc.green() : svc.blue();
  if (bare) *bare = RunBare(&svc, stable_port);
  LoadReport report = load.Stop();
  side->steady = SliceOf(report, {{steady_from, steady_to}});
  side->during = SliceOf(report, deploys);
  side->in_reloads = SliceOf(report, side->reloads);
  std::vector<std::pair<int64_t, int64_t>> bare_windows;
  for (const BareTimes& t : bare ? bare->times : std::vector<BareTimes>())
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
void RunNaiveSide(double rate, double seconds, const Mix& mix,
                  SideResult* side) {
  testing::NginxFixture ngx;
  int port = testing::PickFreePort();
  std::string err;
  auto conf = [&](int listen) {
    return ShippedNginxConf(listen, "naive", mix.client_keepalive);
  };
  if (!ngx.StartWithConf("naive", port, conf, &err)) {
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
  LoadGenerator load(MakeLoad(ngx.port(), rate, mix));
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
    side->step_ms.push_back(static_cast<double>(to - from));
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

// One column of a run's table: a bgctl switch or the naive restart.
struct Column {
  std::string name;  // "bgctl reload", "naive restart"
  SideResult side;
  StepTimes steps;  // bgctl only
  bool bgctl = true;
};

void PrintSides(const std::vector<Column>& cols) {
  auto row = [&](const char* name,
                 const std::function<std::string(const Column&)>& cell) {
    std::printf("  %-36s", name);
    for (const Column& c : cols) std::printf(" %-24s", cell(c).c_str());
    std::printf("\n");
  };
  auto i = [](int64_t v) { return std::to_string(v); };
  row("", [](const Column& c) { return c.name; });
  row("requests sent (whole run)",
      [&](const Column& c) { return i(c.side.sent_total); });
  row("requests during the switches",
      [&](const Column& c) { return i(c.side.during.sent); });
  row("failed: non-2xx",
      [&](const Column& c) { return i(c.side.during.non2xx); });
  row("failed: connection errors",
      [&](const Column& c) { return i(c.side.during.errors()); });
  row("  (refused / lost mid-request)", [&](const Column& c) {
    return i(c.side.during.refused) + " / " + i(c.side.during.mid_request);
  });
  row("failed in steady state",
      [&](const Column& c) { return i(c.side.steady.failed()); });
  row("failed in the whole run",
      [&](const Column& c) { return i(c.side.failed_total); });
  row("p50 ms steady -> switch", [](const Column& c) {
    return Fmt(c.side.steady.p50) + " -> " + Fmt(c.side.during.p50);
  });
  row("p99 ms steady -> switch", [](const Column& c) {
    return Fmt(c.side.steady.p99) + " -> " + Fmt(c.side.during.p99);
  });
  row("p99 ratio switch/steady", [](const Column& c) {
    return Ratio(c.side.during.p99, c.side.steady.p99);
  });
  row("max ms during the switch",
      [](const Column& c) { return Fmt(c.side.during.max); });
  row("time per step, ms (median)",
      [](const Column& c) { return Fmt(Median(c.side.step_ms)); });
  row("p99 ms in its steps / rest", [](const Column& c) {
    if (!c.bgctl) return std::string();
    return Fmt(c.side.in_reloads.p99) + " / " + Fmt(c.side.between.p99) + " (" +
           std::to_string(c.side.in_reloads.sent) + "/" +
           std::to_string(c.side.between.sent) + ")";
  });
  row("wall time minus pauses, ms", [](const Column& c) {
    return FmtList(c.side.wall_minus_pauses_ms, "%.0f");
  });
  for (const Column& c : cols)
    for (const std::string& f : c.side.failures)
      std::printf("    %s failure: %s\n", c.name.c_str(), f.c_str());
}

// bgctl's per-step figures, and against the bare sequence when `bare` ran.
void PrintSteps(const StepTimes& steps, const BareResult* bare_or_null,
                const Slice& in_bare) {
  double bgctl = Median(steps.reload_ms);
  std::printf("  bgctl per step (reload_ms of its weight events): %s\n",
              FmtList(steps.reload_ms).c_str());
  std::printf(
      "  bgctl median per step %.1f ms; between steps minus pause: "
      "median %.1f ms (%s)\n",
      bgctl, Median(steps.gap_ms), FmtList(steps.gap_ms).c_str());
  for (const std::string& line : steps.breakdown)
    std::printf("  bgctl events (t_ms): %s\n", line.c_str());
  if (bare_or_null == nullptr) return;
  const BareResult& bare = *bare_or_null;
  if (!bare.ok) {
    std::printf("  bare sequence FAILED: %s\n", bare.problem.c_str());
    return;
  }
  BareMedians m = Medians(bare);
  std::printf("  p99 ms during the bare sequences %.1f (%lld req)\n",
              in_bare.p99, static_cast<long long>(in_bare.sent));
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

// One row of the summary: a mix and a column, over all runs.
struct RowTotals {
  int64_t failed = 0, sent = 0;
  std::vector<double> p99_steady, p99_during, p99_ratio, step, wall;
};

struct BareTotals {
  std::vector<double> bgctl_step, first, streak, release, step_ratio;
};

void AddToTotals(const Column& c, RowTotals* t) {
  const SideResult& s = c.side;
  t->failed += s.failed_total;
  t->sent += s.sent_total;
  t->p99_steady.push_back(s.steady.p99);
  t->p99_during.push_back(s.during.p99);
  t->p99_ratio.push_back(s.during.p99 / std::max(s.steady.p99, 1e-9));
  t->step.push_back(Median(s.step_ms));
  t->wall.insert(t->wall.end(), s.wall_minus_pauses_ms.begin(),
                 s.wall_minus_pauses_ms.end());
}

void PrintTotals(const std::string& name, const RowTotals& t, bool bgctl,
                 int runs) {
  int p99_met = 0;
  for (double r : t.p99_ratio) p99_met += r <= 1.1;
  std::printf("  %s: %lld failed of %lld requests%s\n", name.c_str(),
              static_cast<long long>(t.failed), static_cast<long long>(t.sent),
              !bgctl          ? ""
              : t.failed == 0 ? " (target 0: met)"
                              : " (target 0: MISSED)");
  std::printf("    p99 ms steady -> during, per run: ");
  for (size_t i = 0; i < t.p99_steady.size(); ++i)
    std::printf("%s%.1f -> %.1f", i ? ", " : "", t.p99_steady[i],
                t.p99_during[i]);
  std::printf(" (ratio %s", FmtList(t.p99_ratio, "%.2f").c_str());
  if (bgctl)
    std::printf("; target <= 1.1: met in %d of %d runs", p99_met, runs);
  std::printf(
      ")\n    time per step, ms (median per run): %s; wall time "
      "minus pauses, ms: %s\n",
      FmtList(t.step).c_str(), FmtList(t.wall, "%.0f").c_str());
}

void PrintBareTotals(const BareTotals& b, int runs) {
  if (b.bgctl_step.empty()) return;
  int step_met = 0;
  for (double r : b.step_ratio) step_met += r <= 1.2;
  double step = Median(b.bgctl_step);
  std::printf(
      "  bare per step (mixed, reload; median per run), ms: first new answer "
      "%s (unsafe); new for 150 ms %s; old workers released %s\n",
      FmtList(b.first).c_str(), FmtList(b.streak).c_str(),
      FmtList(b.release).c_str());
  std::printf(
      "  bgctl reload / bare (old workers released), per run: %s (target <= "
      "1.2: met in %d of %d runs)\n",
      FmtList(b.step_ratio, "%.2f").c_str(), step_met, runs);
  std::printf(
      "  medians over runs: bgctl %.1f ms; bgctl / first new answer %s "
      "(not a safe confirmation), / 150 ms streak %s, / old workers "
      "released %s\n",
      step, Ratio(step, Median(b.first)).c_str(),
      Ratio(step, Median(b.streak)).c_str(),
      Ratio(step, Median(b.release)).c_str());
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  using namespace bgctl::bench;
  double rate = 400, seconds = 5;
  int runs = 3;
  std::string mix_name = "both";
  CLI::App app{
      "deploy_under_load: bgctl deploys (each switch) vs a naive restart "
      "under steady load, and bgctl's step vs the bare nginx commands"};
  app.add_option("--rate", rate, "requests/s through nginx")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "steady-state seconds before deploys")
      ->capture_default_str();
  app.add_option("--runs", runs, "repetitions")->capture_default_str();
  app.add_option("--mix", mix_name, "client mix: both, mixed or keep-alive")
      ->check(CLI::IsMember({"both", "mixed", "keep-alive"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string switches;
  for (const std::string& sw : BgctlSwitches())
    switches += (switches.empty() ? "" : ", ") + sw;
  std::printf(
      "deploy_under_load: rate %.0f req/s (%d threads, 30%% POST), steady "
      "%.0f s, %d run(s); bgctl steps 10%% 1s, 50%% 1s, 100%%; switches: %s; "
      "mixes: mixed (half keep-alive, shipped nginx.conf with client "
      "keep-alive off), keep-alive (all keep-alive, nginx's default client "
      "keep-alive)\n",
      rate, MakeLoad(0, rate, Mixes()[0]).threads, seconds, runs,
      switches.c_str());
  bool all_ok = true;
  std::map<std::string, RowTotals> totals;  // "mix / column"
  std::vector<std::string> order;
  BareTotals bare_totals;
  for (const Mix& mix : Mixes()) {
    if (mix_name != "both" && mix_name != mix.name) continue;
    for (int run = 1; run <= runs; ++run) {
      int64_t started = NowMs();
      std::vector<Column> cols;
      BareResult bare;
      for (const std::string& sw : BgctlSwitches()) {
        Column c;
        c.name = "bgctl " + sw;
        bool with_bare = mix.name == "mixed" && sw == "reload";
        RunBgctlSide(rate, seconds, mix, sw, &c.side, &c.steps,
                     with_bare ? &bare : nullptr);
        cols.push_back(std::move(c));
      }
      Column naive;
      naive.name = "naive restart";
      naive.bgctl = false;
      RunNaiveSide(rate, seconds, mix, &naive.side);
      cols.push_back(std::move(naive));
      std::printf("\nmix %s, run %d (%.1f s)\n", mix.name.c_str(), run,
                  (NowMs() - started) / 1000.0);
      for (const Column& c : cols) {
        if (!c.side.ok)
          std::printf("  %s PROBLEM: %s\n", c.name.c_str(),
                      c.side.problem.c_str());
        all_ok &= c.side.ok;
      }
      PrintSides(cols);
      for (const Column& c : cols) {
        if (!c.bgctl) continue;
        std::printf("  %s:\n", c.name.c_str());
        bool with_bare = mix.name == "mixed" && c.name == "bgctl reload";
        PrintSteps(c.steps, with_bare ? &bare : nullptr, c.side.in_bare);
        if (with_bare && bare.ok) {
          BareMedians m = Medians(bare);
          double step = Median(c.steps.reload_ms);
          bare_totals.bgctl_step.push_back(step);
          bare_totals.first.push_back(m.first);
          bare_totals.streak.push_back(m.streak);
          bare_totals.release.push_back(m.release);
          bare_totals.step_ratio.push_back(step / m.release);
        }
        all_ok &= !with_bare || bare.ok;
      }
      for (const Column& c : cols) {
        std::string key = mix.name + " / " + c.name;
        if (!totals.count(key)) order.push_back(key);
        AddToTotals(c, &totals[key]);
      }
      std::fflush(stdout);
    }
  }
  std::printf("\nsummary over %d run(s) per mix\n", runs);
  for (const std::string& key : order)
    PrintTotals(key, totals[key], key.find("/ bgctl") != std::string::npos,
                runs);
  PrintBareTotals(bare_totals, runs);
  return all_ok ? 0 : 1;
}
