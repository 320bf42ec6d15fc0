// Benchmark: how fast bgctl takes traffic off a bad canary, and how many
// failed responses users see meanwhile, at several request rates.
//
//   build/bench/bad_canary [--runs 3] [--rates 200:10,1000:10,2000:10,400:50]
//                          [--method windows|sequential] [--switch reload]
//
// Each run starts one service (real nginx from nginx/, backend-sample,
// tests/support/service.h) on the traffic switch --switch (nginx.switch, one
// of BgctlSwitches() in bench_util.h) and deploys v1 as stable. Then, for each
// RATE:WEIGHT pair, it sends RATE req/s through nginx (half the threads
// keep-alive, half fresh connections; 20% POST) and deploys a bad canary with
// a second config file: backend-sample --error-rate 0.3, steps
// [{weight: WEIGHT, pause: 10s}, {weight: 100}], analysis
// {method: windows (--method), interval: 5s, min_requests: 20,
//  failure_limit: 1, max_error_rate: 0.05,
//  max_p99_latency: 1s, max_latency_ratio: 10}.
// From the load generator's records (every response carries its version):
//   first bad  = when the first 5xx from the canary version arrived
//   all stable = start time of the last request the canary answered
// and from bgctl's --output json: the failed window's event time, the
// "rolling_back" event (the verdict, either method) and the 0% "weight"
// event (confirmed switch, with its switch_ms), moved to the load
// generator's clock by the time bgctl was launched (so they read early by
// bgctl's start-up time, a few ms; their differences are exact).
// Targets: first bad -> all stable <= 1 s when the canary gets >= 100 req/s
// (nominal: RATE * WEIGHT / 100); verdict -> 0% confirmed <= 20 ms;
// failed responses <= 1.5 * min_requests * error_rate = 9.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace bgctl::bench {
namespace {

using testing::LoadGenerator;
using testing::LoadOptions;
using testing::LoadReport;
using testing::RequestRecord;
using testing::Service;
using testing::ServiceOptions;

constexpr int kMinRequests = 20;
constexpr double kErrorRate = 0.3;
constexpr double kHurtBudget = 1.5 * kMinRequests * kErrorRate;
constexpr double kCutTargetMs = 20;  // verdict -> 0% confirmed
// The window rule's settings; --method sequential judges the same canary
// with the sequential judge (these limits, its defaults otherwise).
std::string Analysis(const std::string& method) {
  return "{method: " + method +
         ", interval: 5s, min_requests: 20, failure_limit: 1, "
         "max_error_rate: 0.05, max_p99_latency: 1s, max_latency_ratio: 10}";
}

struct RatePoint {
  double rate = 0;
  int weight = 0;
};

struct PointResult {
  RatePoint point;
  bool ok = true;
  std::string problem;
  double achieved_rate = 0;  // all requests / s while the deploy ran
  double canary_rate = 0;    // canary answers / s while it had traffic
  int64_t canary_answers = 0;
  double first_bad_ms = -1;     // since the load generator started
  double all_stable_ms = -1;    // last canary request's start
  double first_canary_ms = -1;  // start of the first canary request
  double step_ms = -1;          // bgctl's "weight W confirmed" event
  double step_switch_ms = -1;   // that event's switch_ms
  double window_ms = -1;        // bgctl's failed window event
  double verdict_ms = -1;       // bgctl's "rolling_back" event
  int64_t window_requests = 0;  // canary requests in that window
  double zero_ms = -1;          // bgctl's 0% weight event (confirmed)
  double zero_switch_ms = -1;   // that event's switch_ms
  int64_t hurt = 0;             // non-2xx + connection errors, whole load
  int64_t canary_5xx = 0;
  int exit_code = -1;
  size_t tcp_sockets = 0;   // lines of /proc/net/tcp when bgctl started
  double proc_read_ms = 0;  // how long reading it took then
  std::string reason;       // bgctl's error line
};

LoadOptions MakeLoad(int port, double rate) {
  LoadOptions o;
  o.port = port;
  o.rate = rate;
  o.threads = std::max(8, static_cast<int>(std::ceil(rate / 80)));
  o.duration_ms = 120000;  // stopped explicitly long before
  o.keep_alive_share = 0.5;
  o.post_share = 0.2;
  return o;
}

void Measure(const LoadReport& report, const std::string& canary, int64_t from,
             int64_t to, PointResult* p) {
  int64_t in_window = 0;
  double& first_canary = p->first_canary_ms;
  for (const RequestRecord& r : report.records) {
    if (r.start_ms >= from && r.start_ms < to) in_window++;
    if (r.status == 0 || r.status / 100 != 2) p->hurt++;
    if (r.version != canary) continue;
    p->canary_answers++;
    if (first_canary < 0) first_canary = static_cast<double>(r.start_ms);
    p->all_stable_ms =
        std::max(p->all_stable_ms, static_cast<double>(r.start_ms));
    if (r.status >= 500) {
      p->canary_5xx++;
      double arrived = r.start_ms + r.latency_ms;
      if (p->first_bad_ms < 0 || arrived < p->first_bad_ms)
        p->first_bad_ms = arrived;
    }
  }
  p->achieved_rate = 1000.0 * in_window / std::max<int64_t>(to - from, 1);
  if (first_canary >= 0 && p->all_stable_ms > first_canary)
    p->canary_rate =
        1000.0 * p->canary_answers / (p->all_stable_ms - first_canary);
}

PointResult RunPoint(Service* svc, const std::string& bad_cfg,
                     const RatePoint& point, int index) {
  PointResult p;
  p.point = point;
  std::string canary = "bad" + std::to_string(index);
  LoadGenerator load(MakeLoad(svc->port(), point.rate));
  load.Start();
  const int64_t t0 = load.started_at_ms();
  SleepMs(1000);
  double read_start = NowMsExact();
  p.tcp_sockets = ProcNetTcpLines();
  p.proc_read_ms = NowMsExact() - read_start;
  BgctlRun run = RunBgctlJson(svc, {"deploy", "--version", canary}, bad_cfg);
  SleepMs(500);
  LoadReport report = load.Stop();
  int64_t launched = run.launched_ms - t0;
  Measure(report, canary, launched, launched + run.wall_ms, &p);
  p.exit_code = run.exit_code;
  std::string line;
  std::istringstream err(run.err);
  while (std::getline(err, line))
    if (line.find("rolled back") != std::string::npos) p.reason = line;
  for (const nlohmann::json& w : Events(run.doc, "window")) {
    if (p.window_ms >= 0) break;
    p.window_ms = static_cast<double>(launched + w.value("t_ms", 0));
    p.window_requests = w.value("canary_requests", int64_t{0});
  }
  for (const nlohmann::json& v : Events(run.doc, "rolling_back"))
    p.verdict_ms = static_cast<double>(launched + v.value("t_ms", 0));
  // The sequential judge has no windows: the canary requests of the step
  // it rejected, from the deploy's analysis document.
  const nlohmann::json& steps =
      run.doc.value("analysis", nlohmann::json::object())
          .value("steps", nlohmann::json::array());
  if (p.window_ms < 0 && !steps.empty())
    p.window_requests = steps.back()["canary"].value("requests", int64_t{0});
  for (const nlohmann::json& w : Events(run.doc, "weight")) {
    double at = static_cast<double>(launched + w.value("t_ms", 0));
    if (w.value("weight", -1) == point.weight && p.step_ms < 0) {
      p.step_ms = at;
      p.step_switch_ms = w.value("switch_ms", 0.0);
    } else if (w.value("weight", -1) == 0) {
      p.zero_ms = at;
      p.zero_switch_ms = w.value("switch_ms", 0.0);
    }
  }
  if (run.exit_code != 3) {
    p.ok = false;
    p.problem = "bgctl deploy exited " + std::to_string(run.exit_code) +
                " (expected 3, rolled back): " + run.err;
  } else if (p.first_bad_ms < 0) {
    p.ok = false;
    p.problem = "the load generator saw no 5xx from the canary";
  }
  return p;
}

// From bgctl's verdict to its confirmed 0% switch; -1 when either is
// missing.
double CutMs(const PointResult& p) {
  return p.verdict_ms < 0 || p.zero_ms < 0 ? -1 : p.zero_ms - p.verdict_ms;
}

bool ParseRates(const std::string& text, std::vector<RatePoint>* out) {
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    RatePoint p;
    if (std::sscanf(item.c_str(), "%lf:%d", &p.rate, &p.weight) != 2 ||
        p.rate <= 0 || p.weight < 1 || p.weight > 99)
      return false;
    out->push_back(p);
  }
  return !out->empty();
}

void PrintPoint(const PointResult& p) {
  auto rel = [&](double t) {
    return t < 0 || p.first_bad_ms < 0 ? std::string("n/a")
                                       : std::to_string(static_cast<int>(
                                             std::lround(t - p.first_bad_ms)));
  };
  std::printf(
      "  %5.0f req/s @%2d%%  achieved %6.0f req/s, canary %5.0f req/s (%lld "
      "answers, %lld 5xx)\n",
      p.point.rate, p.point.weight, p.achieved_rate, p.canary_rate,
      static_cast<long long>(p.canary_answers),
      static_cast<long long>(p.canary_5xx));
  bool fast_needed = p.point.rate * p.point.weight / 100 >= 100;
  double back = p.all_stable_ms - p.first_bad_ms;
  std::printf(
      "      timeline (ms from the first bad response): first canary request "
      "%s, step %d%% confirmed %s (switch_ms %.0f), failed window %s (%lld "
      "canary requests)\n",
      rel(p.first_canary_ms).c_str(), p.point.weight, rel(p.step_ms).c_str(),
      p.step_switch_ms, rel(p.window_ms).c_str(),
      static_cast<long long>(p.window_requests));
  std::printf(
      "      first bad -> last canary request %s ms%s; -> bgctl 0%% "
      "confirmed %s ms (switch_ms %.0f)\n",
      rel(p.all_stable_ms).c_str(),
      !fast_needed   ? " (canary < 100 req/s: no target)"
      : back <= 1000 ? " (target <= 1000: met)"
                     : " (target <= 1000: MISSED)",
      rel(p.zero_ms).c_str(), p.zero_switch_ms);
  const double cut = CutMs(p);
  std::printf("      verdict (rolling_back) %s -> 0%% confirmed %s\n",
              rel(p.verdict_ms).c_str(),
              cut < 0 ? "n/a"
                      : (std::to_string(std::lround(cut)) + " ms (target <= " +
                         std::to_string(std::lround(kCutTargetMs)) + ": " +
                         (cut <= kCutTargetMs ? "met" : "MISSED") + ")")
                            .c_str());
  std::printf(
      "      users hurt %lld (target <= %.0f: %s); /proc/net/tcp "
      "had %zu sockets at the start (read in %.0f ms)\n",
      static_cast<long long>(p.hurt), kHurtBudget,
      p.hurt <= kHurtBudget ? "met" : "MISSED", p.tcp_sockets, p.proc_read_ms);
  if (!p.reason.empty()) std::printf("      %s\n", p.reason.c_str());
  if (!p.ok) std::printf("      PROBLEM: %s\n", p.problem.c_str());
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  using namespace bgctl::bench;
  int runs = 3;
  std::string rates_text = "200:10,1000:10,2000:10,400:50";
  CLI::App app{
      "bad_canary: time to take traffic off a canary answering 30% "
      "errors, and the failed responses users see"};
  app.add_option("--runs", runs, "repetitions")->capture_default_str();
  std::string method = "windows";
  app.add_option("--method", method, "windows or sequential")
      ->check(CLI::IsMember({"windows", "sequential"}))
      ->capture_default_str();
  app.add_option("--rates", rates_text,
                 "RATE:WEIGHT pairs: total req/s and canary weight in %")
      ->capture_default_str();
  std::string switch_name = "reload";
  app.add_option("--switch", switch_name, "nginx.switch to run bgctl on")
      ->check(CLI::IsMember(BgctlSwitches()))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::vector<RatePoint> points;
  if (!ParseRates(rates_text, &points)) {
    std::fprintf(stderr,
                 "bad_canary: --rates: expected RATE:WEIGHT,... got "
                 "\"%s\"\n",
                 rates_text.c_str());
    return 2;
  }
  std::printf(
      "bad_canary: canary backend-sample --error-rate %.1f; analysis "
      "%s; switch %s; %d run(s)\n",
      kErrorRate, Analysis(method).c_str(), switch_name.c_str(), runs);
  std::vector<std::vector<PointResult>> all(points.size());
  bool all_ok = true;
  int index = 0;
  for (int run = 1; run <= runs; ++run) {
    int64_t started = NowMs();
    Service svc;
    ServiceOptions good;
    good.analysis = Analysis(method);
    UseSwitch(switch_name, /*client_keepalive=*/false, &good);
    std::string err;
    if (!svc.Start(good, &err)) {
      std::printf("cannot start nginx: %s\n", err.c_str());
      return 1;
    }
    BgctlRun first = RunBgctlJson(&svc, {"deploy", "--version", "v1"});
    if (first.exit_code != 0) {
      std::printf("first deploy failed: %s\n", first.err.c_str());
      return 1;
    }
    std::printf("\nrun %d\n", run);
    for (size_t i = 0; i < points.size(); ++i) {
      ServiceOptions bad = good;
      bad.steps = "[{weight: " + std::to_string(points[i].weight) +
                  ", pause: 10s}, {weight: 100}]";
      bad.backend_args = ", --error-rate, \"0.3\"";
      std::string cfg = svc.WriteConfig("bad.yaml", bad);
      PointResult p = RunPoint(&svc, cfg, points[i], ++index);
      PrintPoint(p);
      std::fflush(stdout);
      all_ok &= p.ok;
      all[i].push_back(p);
    }
    std::printf("  (run took %.1f s)\n", (NowMs() - started) / 1000.0);
  }
  std::printf("\nsummary: median (max) over %d run(s)\n", runs);
  for (size_t i = 0; i < points.size(); ++i) {
    std::vector<double> back, zero, cut, hurt, achieved, canary;
    for (const PointResult& p : all[i]) {
      if (CutMs(p) >= 0) cut.push_back(CutMs(p));
      if (p.first_bad_ms < 0) continue;
      back.push_back(p.all_stable_ms - p.first_bad_ms);
      zero.push_back(p.zero_ms - p.first_bad_ms);
      hurt.push_back(static_cast<double>(p.hurt));
      achieved.push_back(p.achieved_rate);
      canary.push_back(p.canary_rate);
    }
    std::printf(
        "  %5.0f req/s @%2d%% (achieved %.0f, canary %.0f req/s): "
        "first bad -> last canary request %.0f (%.0f) ms, -> bgctl "
        "0%% confirmed %.0f (%.0f) ms; verdict -> 0%% confirmed %.0f (%.0f) "
        "ms, target %.0f; users hurt %.0f (%.0f), budget %.0f\n",
        points[i].rate, points[i].weight, Median(achieved), Median(canary),
        Median(back), Percentile(back, 1.0), Median(zero),
        Percentile(zero, 1.0), Median(cut), Percentile(cut, 1.0), kCutTargetMs,
        Median(hurt), Percentile(hurt, 1.0), kHurtBudget);
  }
  return all_ok ? 0 : 1;
}
