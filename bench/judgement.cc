// Benchmark: how well each rule judges a canary, on seeded synthetic
// traffic fed to the real judges (controller/judge.h), no processes.
//
//   build/bench/judgement [--deploys 10000] [--detect 2000] [--seed 1]
//                         [--threads 2] [--quick]
//
// Traffic: the default plan (10% for 30 s, 50% for 30 s, then 100%), in
// 20 ms ticks as the rollout has them. Per tick, Poisson numbers of canary
// and stable requests (so the realized share is random around the weight,
// harsher than nginx's exact weighted round robin); each request a 5xx with
// its slot's error rate and a latency drawn from a log-normal (median 20
// ms, sigma 0.5) rounded to whole ms like $request_time. "Canary N req/s"
// is the canary's rate at the 10% step (total 10 N req/s).
//
// The rules, side by side on the very same requests:
//   sequential  analysis.method: sequential with the defaults (alpha 0.01);
//   windows     analysis.method: windows with the defaults (interval 5s,
//               min_requests 50, failure_limit 2, max_error_rate 0.01,
//               max_p99_latency 500ms, max_latency_ratio 1.5);
//   flagger     the window rule with 1-minute windows, no minimum of
//               requests and rollback on the first failed check (Flagger's
//               threshold: 1); a 30 s step's partial window is judged at its
//               end.
//
// 1. False rollbacks: a canary identical to stable, baseline 5xx rate 0,
//    0.1%, 0.5%, 2% x canary 1, 10, 100 req/s, --deploys deploys each.
// 2. Detection within the default deploy (baseline 0.5%, canary 10 req/s):
//    2x, 5x, 50x errors, +50% and +200% latency: share cut, canary requests
//    and users hurt (5xx answered; for latency every canary request) until
//    the cut.
// 3. The sequential statistic against a fixed-sample test: the same
//    canaries in one long 10% step (with the budget the first step of the
//    default plan gets), canary requests until cut, against
//    the sample size n of the exact one-sided binomial test of the same
//    hypothesis at the deploy's alpha 0.01 with 90% power (FixedN; the best
//    of the judge's tests; for errors vs stable n counts errors and becomes
//    canary requests as n * theta1 / p_canary).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "controller/judge.h"
#include "controller/sequential.h"

namespace {

using bgctl::AnalysisConfig;
using bgctl::AnalysisMethod;
using bgctl::CanaryJudge;
using bgctl::DecisionKind;
using bgctl::JudgeSetup;
using bgctl::LineOutcome;
using bgctl::StepConfig;

constexpr int64_t kTickMs = 20;
constexpr double kMedianMs = 20, kSigma = 0.5;

// splitmix64: seeded per deploy, so results do not depend on threads.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return (Next() >> 11) * (1.0 / 9007199254740992.0); }
  // Poisson by inversion, one draw: `limit` = exp(-mean); means here are
  // below 20.
  int Poisson(double mean, double limit) {
    const double u = Uniform();
    double p = limit, cdf = limit;
    int k = 0;
    while (u > cdf && k < 200) {
      ++k;
      p *= mean / k;
      cdf += p;
    }
    return k;
  }
};

double InverseNormal(double p) {  // Acklam's approximation, |err| < 1.2e-9
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
            c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  };
  if (p < 0.02425) return tail(std::sqrt(-2 * std::log(p)));
  if (p > 1 - 0.02425) return -tail(std::sqrt(-2 * std::log(1 - p)));
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) *
         q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double NormalTail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// Latencies by a 4096-entry table of log-normal quantiles, times `factor`,
// rounded to whole ms.
struct LatencyTable {
  double ms[4096];
  explicit LatencyTable(double factor) {
    for (int i = 0; i < 4096; ++i)
      ms[i] = std::round(kMedianMs * factor *
                         std::exp(kSigma * InverseNormal((i + 0.5) / 4096)));
  }
  // By 12 bits of a draw.
  double At(uint64_t bits) const { return ms[bits & 4095]; }
};

struct Scenario {
  std::string name;
  double stable_error = 0;
  double canary_error = 0;
  double canary_rate = 10;  // req/s at the 10% step
  double latency_factor = 1;
  double max_error_rate = 0;  // 0: the default
};

struct Outcome {  // one rule on one deploy
  bool cut = false;
  int64_t canary_requests = 0;  // until the cut
  int64_t canary_errors = 0;
};

// The rule's analysis config; max_error_rate as given (the default 0.01
// when 0).
AnalysisConfig RuleConfig(int rule, double max_error_rate) {
  AnalysisConfig c;
  if (max_error_rate > 0) c.max_error_rate = max_error_rate;
  if (rule == 0) return c;
  c.method = AnalysisMethod::kWindows;
  if (rule == 2) {
    c.interval_ms = 60000;
    c.min_requests = 1;
    c.failure_limit = 1;
  }
  return c;
}

// One deploy of `plan` under `sc`, judged by every rule in `rules`.
void Deploy(const Scenario& sc, const std::vector<StepConfig>& plan,
            uint64_t seed, const std::vector<int>& rules,
            const LatencyTable& stable_latency,
            const LatencyTable& canary_latency, std::vector<Outcome>* out) {
  Rng rng(seed);
  JudgeSetup setup;
  setup.stable_port = 1;
  setup.canary_port = 2;
  setup.steps = plan;
  std::vector<std::unique_ptr<CanaryJudge>> judges;
  for (int r : rules)
    judges.push_back(MakeJudge(RuleConfig(r, sc.max_error_rate), setup));
  out->assign(rules.size(), Outcome());
  size_t active = rules.size();
  int64_t canary = 0, canary_errors = 0, now = 0;
  const double total_rate = sc.canary_rate * 10;
  auto cut = [&](size_t i) {
    (*out)[i] = {true, canary, canary_errors};
    active--;
  };
  for (size_t step = 0; step < plan.size() && active > 0; ++step) {
    const double w = plan[step].weight / 100.0;
    for (size_t i = 0; i < judges.size(); ++i)
      if (!(*out)[i].cut) judges[i]->BeginStep(step, plan[step].weight, now);
    const int64_t ticks = plan[step].pause_ms / kTickMs;
    const double canary_mean = total_rate * w * kTickMs / 1000;
    const double stable_mean = total_rate * (1 - w) * kTickMs / 1000;
    const double canary_limit = std::exp(-canary_mean);
    const double stable_limit = std::exp(-stable_mean);
    for (int64_t t = 0; t < ticks && active > 0; ++t) {
      now += kTickMs;
      const int nc = rng.Poisson(canary_mean, canary_limit);
      const int ns = w < 1 ? rng.Poisson(stable_mean, stable_limit) : 0;
      for (int k = 0; k < nc + ns; ++k) {
        const bool is_canary = k < nc;
        LineOutcome o;
        // One draw: 52 bits for the error, 12 for the latency.
        const uint64_t bits = rng.Next();
        const bool error = (bits >> 12) * (1.0 / 4503599627370496.0) <
                           (is_canary ? sc.canary_error : sc.stable_error);
        o.slot[is_canary ? bgctl::kCanary : bgctl::kStable] = {true, error,
                                                               false, true};
        o.latency_ms = (is_canary ? canary_latency : stable_latency).At(bits);
        if (is_canary) {
          canary++;
          canary_errors += error;
        }
        for (size_t i = 0; i < judges.size(); ++i)
          if (!(*out)[i].cut) judges[i]->AddOutcome(o);
      }
      for (size_t i = 0; i < judges.size(); ++i)
        if (!(*out)[i].cut &&
            judges[i]->Update(now, -1).kind == DecisionKind::kReject)
          cut(i);
    }
    for (size_t i = 0; i < judges.size(); ++i)
      if (!(*out)[i].cut &&
          judges[i]->EndStep(now, -1).kind == DecisionKind::kReject)
        cut(i);
  }
}

struct Summary {
  int64_t deploys = 0, cut = 0;
  std::vector<double> requests, hurt;  // of the cut deploys
};

// Runs `n` deploys on `threads` threads; one Summary per rule.
std::vector<Summary> RunMany(const Scenario& sc,
                             const std::vector<StepConfig>& plan,
                             const std::vector<int>& rules, int64_t n,
                             uint64_t seed, int threads, bool latency_hurts) {
  std::vector<std::vector<Outcome>> all(n);
  const LatencyTable stable_latency(1), canary_latency(sc.latency_factor);
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int64_t i; (i = next.fetch_add(1)) < n;)
        Deploy(sc, plan, seed * 1000003 + static_cast<uint64_t>(i), rules,
               stable_latency, canary_latency, &all[i]);
    });
  for (std::thread& t : pool) t.join();
  std::vector<Summary> s(rules.size());
  for (const std::vector<Outcome>& d : all)
    for (size_t r = 0; r < rules.size(); ++r) {
      s[r].deploys++;
      if (!d[r].cut) continue;
      s[r].cut++;
      s[r].requests.push_back(static_cast<double>(d[r].canary_requests));
      s[r].hurt.push_back(static_cast<double>(
          latency_hurts ? d[r].canary_requests : d[r].canary_errors));
    }
  return s;
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double Quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * v.size()));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// The upper end of the 95% Wilson interval of k/n.
double WilsonUpper(int64_t k, int64_t n) {
  const double z = 1.96, p = static_cast<double>(k) / n, nn = n;
  return (p + z * z / (2 * nn) +
          z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn))) /
         (1 + z * z / nn);
}

// ---------------------------------------------------------------------------
// Fixed-sample references (one-sided, alpha 0.01, power 0.9).

// The sample size of the exact one-sided binomial test of p <= p0 at level
// alpha with power 0.9 at p1: the least n with a critical k such that
// P(Bin(n, p0) >= k) <= alpha and P(Bin(n, p1) >= k) >= 0.9. Above 20,000
// trials, the normal approximation
// ((z_{1-alpha} sqrt(p0 q0) + z_{0.9} sqrt(p1 q1)) / (p1 - p0))^2.
double FixedN(double p0, double p1, double alpha) {
  if (!(p1 > p0)) return INFINITY;
  const double za = InverseNormal(1 - alpha), zb = InverseNormal(0.9);
  const double approx =
      std::pow((za * std::sqrt(p0 * (1 - p0)) + zb * std::sqrt(p1 * (1 - p1))) /
                   (p1 - p0),
               2);
  if (approx > 20000) return approx;
  auto log_pmf = [](int n, int k, double p) {
    return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) -
           std::lgamma(n - k + 1.0) + k * std::log(p) +
           (n - k) * std::log1p(-p);
  };
  for (int n = 1; n <= 40000; ++n) {
    // The critical k: the smallest with P0(X >= k) <= alpha.
    double tail0 = 0;
    int k = n + 1;
    while (k > 0 && tail0 + std::exp(log_pmf(n, k - 1, p0)) <= alpha) {
      tail0 += std::exp(log_pmf(n, k - 1, p0));
      --k;
    }
    if (k > n) continue;
    double power = 0;
    for (int j = k; j <= n; ++j) power += std::exp(log_pmf(n, j, p1));
    if (power >= 0.9) return n;
  }
  return approx;
}

// The fewest canary requests a fixed-sample test of any of the sequential
// judge's four hypotheses needs, and which one.
double FixedReference(const Scenario& sc, double rho, std::string* which) {
  const AnalysisConfig cfg;
  const double alpha = cfg.alpha;
  double best = INFINITY;
  auto consider = [&](double n, const char* name) {
    if (n < best) {
      best = n;
      *which = name;
    }
  };
  // errors vs stable: errors from the canary, share theta0 vs theta1.
  if (sc.canary_error > 0 && sc.stable_error > 0) {
    const double theta0 =
        bgctl::CanaryErrorShare(rho, 1 + cfg.error_margin.relative);
    const double theta1 =
        bgctl::CanaryErrorShare(rho, sc.canary_error / sc.stable_error);
    consider(FixedN(theta0, theta1, alpha) * theta1 / sc.canary_error,
             "errors vs stable");
  }
  consider(FixedN(cfg.max_error_rate, sc.canary_error, alpha), "error rate");
  // latency vs stable: P(canary > tau) against 10%.
  const double p90 = kMedianMs * std::exp(kSigma * InverseNormal(0.9));
  const double tau = std::max(p90 * (1 + cfg.latency_margin.relative),
                              p90 + cfg.latency_margin.absolute);
  const double slow =
      NormalTail(std::log(tau / (kMedianMs * sc.latency_factor)) / kSigma);
  consider(FixedN(0.1, slow, alpha), "latency vs stable");
  return best;
}

// ---------------------------------------------------------------------------

std::vector<StepConfig> DefaultPlan() {
  return {{10, 30000, false}, {50, 30000, false}, {100, 0, false}};
}

void FalseRollbacks(int64_t deploys, uint64_t seed, int threads) {
  std::printf("\n1. False rollbacks of a canary identical to stable (%" PRId64
              " deploys per row; the plan: 10%% 30 s, 50%% 30 s, 100%%)\n\n",
              deploys);
  std::printf(
      "| baseline 5xx | canary req/s | sequential (95%% upper) | windows | "
      "flagger |\n|---|---|---|---|---|\n");
  const double alpha = AnalysisConfig().alpha;
  bool met = true;
  for (double base : {0.0, 0.001, 0.005, 0.02})
    for (double rate : {1.0, 10.0, 100.0}) {
      // A limit below the service's normal rate makes every rule roll back,
      // rightly: stable itself breaks it. The 2% rows have 5%.
      Scenario sc{"identical", base, base, rate, 1, base >= 0.01 ? 0.05 : 0};
      std::vector<Summary> s =
          RunMany(sc, DefaultPlan(), {0, 1, 2}, deploys, seed, threads, false);
      auto pct = [&](const Summary& x) {
        return 100.0 * static_cast<double>(x.cut) / x.deploys;
      };
      met &= static_cast<double>(s[0].cut) / s[0].deploys <= alpha;
      std::printf("| %.1f%% | %.0f | %.2f%% (%.2f%%) | %.2f%% | %.2f%% |\n",
                  100 * base, rate, pct(s[0]),
                  100 * WilsonUpper(s[0].cut, s[0].deploys), pct(s[1]),
                  pct(s[2]));
      std::fflush(stdout);
    }
  std::printf("\nsequential false rollbacks <= alpha %.2f at every point: %s\n",
              alpha, met ? "met" : "MISSED");
}

std::vector<Scenario> BadCanaries(double base, double rate) {
  return {{"2x errors", base, 2 * base, rate, 1},
          {"5x errors", base, 5 * base, rate, 1},
          {"50x errors", base, std::min(1.0, 50 * base), rate, 1},
          {"+50% latency", base, base, rate, 1.5},
          {"+200% latency", base, base, rate, 3}};
}

void Detection(int64_t n, uint64_t seed, int threads) {
  const double base = 0.005, rate = 10;
  std::printf(
      "\n2. Bad canaries in the default deploy (baseline %.1f%%, canary %.0f "
      "req/s; %" PRId64
      " deploys each): cut / median canary requests until the cut / median "
      "users hurt\n\n",
      100 * base, rate, n);
  std::printf(
      "| canary | sequential | windows | flagger |\n|---|---|---|---|\n");
  for (const Scenario& sc : BadCanaries(base, rate)) {
    const bool latency = sc.latency_factor != 1;
    std::vector<Summary> s =
        RunMany(sc, DefaultPlan(), {0, 1, 2}, n, seed + 7, threads, latency);
    std::printf("| %s |", sc.name.c_str());
    for (const Summary& x : s) {
      if (x.cut == 0) {
        std::printf(" never cut |");
        continue;
      }
      std::printf(" %.0f%% / %.0f / %.0f |",
                  100.0 * static_cast<double>(x.cut) / x.deploys,
                  Quantile(x.requests, 0.5), Quantile(x.hurt, 0.5));
    }
    std::printf("\n");
    std::fflush(stdout);
  }
}

void Efficiency(int64_t n, uint64_t seed, int threads) {
  const double base = 0.005, rate = 10;
  std::printf(
      "\n3. Canary requests until the sequential judge cuts, in one long 10%% "
      "step with the first step's budget, against a fixed-sample test at "
      "alpha 0.01 and 90%% power (%" PRId64 " runs each)\n\n",
      n);
  std::printf(
      "| canary | fixed-sample n (test) | sequential mean / median / p90 | "
      "mean / fixed | users hurt (mean) |\n|---|---|---|---|---|\n");
  for (const Scenario& sc : BadCanaries(base, rate)) {
    std::string which;
    const double fixed = FixedReference(sc, 0.1, &which);
    // Long enough to cut in nearly every run: 40 fixed samples.
    const int64_t pause = static_cast<int64_t>(
        std::clamp(40 * fixed / rate, 60.0, 36000.0) * 1000);
    const std::vector<StepConfig> plan = {
        {10, pause, false}, {50, 30000, false}, {100, 0, false}};
    const bool latency = sc.latency_factor != 1;
    Summary s = RunMany(sc, plan, {0}, n, seed + 11, threads, latency)[0];
    std::printf(
        "| %s | %.0f (%s) | %.0f / %.0f / %.0f (cut %.1f%%) | %.2f | "
        "%.1f |\n",
        sc.name.c_str(), fixed, which.c_str(), Mean(s.requests),
        Quantile(s.requests, 0.5), Quantile(s.requests, 0.9),
        100.0 * static_cast<double>(s.cut) / s.deploys,
        Mean(s.requests) / fixed, Mean(s.hurt));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t deploys = 10000, detect = 2000;
  uint64_t seed = 1;
  int threads = 2;
  bool quick = false;
  CLI::App app{
      "judgement: false rollbacks and time to cut of the canary judges, on "
      "seeded synthetic traffic"};
  app.add_option("--deploys", deploys, "deploys per false-rollback row")
      ->capture_default_str();
  app.add_option("--detect", detect, "runs per bad canary")
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "worker threads")->capture_default_str();
  app.add_flag("--quick", quick, "1,000 deploys and 200 runs (a smoke test)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    deploys = 1000;
    detect = 200;
  }
  std::printf("judgement: seed %" PRIu64 ", %d threads\n", seed, threads);
  FalseRollbacks(deploys, seed, std::max(threads, 1));
  Detection(detect, seed, std::max(threads, 1));
  Efficiency(detect, seed, std::max(threads, 1));
  return 0;
}
