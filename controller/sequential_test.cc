// The statistics of the sequential judge against values computed by hand
// (small integer cases, exact fractions) and with mpmath at 40 digits
// (mp.loggamma, mp.betainc, and mp.quad of the Beta density for the large
// cases). Each reference is the exact value rounded to 17 digits.
#include "controller/sequential.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

namespace bgctl {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// |got - want| <= 1e-9 * max(1, |want|).
bool Near(double got, double want, double tolerance = 1e-9) {
  return std::fabs(got - want) <= tolerance * std::max(1.0, std::fabs(want));
}

TEST_CASE("log Beta matches its closed forms", "[sequential]") {
  CHECK(Near(LogBeta(1, 1), 0));
  CHECK(Near(LogBeta(2, 3), std::log(1.0 / 12)));  // 1! 2! / 4!
  CHECK(Near(LogBeta(0.5, 0.5), std::log(M_PI)));
  // mpmath: loggamma(1e7) + loggamma(2e7) - loggamma(3e7).
  CHECK(Near(LogBeta(1e7, 2e7), -19095431.986221113052, 1e-15));
}

TEST_CASE("the Beta upper tail matches by-hand values in the bulk and far out",
          "[sequential]") {
  // Beta(1, 1) is uniform: P(X > 0.5) = 0.5.
  CHECK(Near(LogBetaUpperTail(0.5, 1, 1), std::log(0.5)));
  // Integer a, b: I_x(a, b) = P(Binomial(a + b - 1, x) >= a), so
  // P(Beta(2, 3) > 0.3) = 0.7^4 + 4 * 0.3 * 0.7^3 = 0.6517.
  CHECK(Near(LogBetaUpperTail(0.3, 2, 3), std::log(0.6517)));
  // The other side of the mean takes the other continued fraction.
  CHECK(Near(LogBetaUpperTail(0.9, 2, 3), std::log(0.0037)));  // 0.1^4 + ...
  // Arcsine: P(X > 0.9) = 1 - 2 asin(sqrt(0.9)) / pi.
  CHECK(Near(LogBetaUpperTail(0.9, 0.5, 0.5), -1.5855614147303533465));
  // A prior Beta(0.1, 9.9) tail at 0.5 (mpmath betainc).
  CHECK(Near(LogBetaUpperTail(0.5, 0.01, 0.99), -4.9599218639075029434));
  // A posterior of 10^7 trials, 7 sd above its mean (mpmath quad).
  CHECK(Near(LogBetaUpperTail(0.0101, 100000.101, 9900000.899),
             -7.1742547648135203087));
  CHECK(LogBetaUpperTail(0, 2, 3) == 0);
  CHECK(LogBetaUpperTail(1, 2, 3) == -kInf);
}

TEST_CASE("the two-sided Beta-mixture Bayes factor matches by-hand values",
          "[sequential]") {
  // Uniform prior (k = 2, r = 1/2), two successes:
  // B(3, 1) / B(1, 1) / (1/2)^2 = (1/3) / (1/4) = 4/3.
  CHECK(Near(LogBetaMixtureBF(2, 0, 0.5, 2), std::log(4.0 / 3)));
  // No data: BF = 1.
  CHECK(LogBetaMixtureBF(0, 0, 0.1, 10) == 0);
  // 4 of 6 errors from a canary with a 10% share, k = 10 (mpmath).
  CHECK(Near(LogBetaMixtureBF(4, 2, 0.1, 10), 2.0014810002106240701));
  // 10^7 trials: no overflow, exact to 1e-9 (mpmath).
  CHECK(Near(LogBetaMixtureBF(101000, 9899000, 0.01, 10),
             -2.3915858748770551737));
  CHECK(Near(LogBetaMixtureBF(10000000, 0, 0.5, 2), 6931455.6875037021359,
             1e-12));
}

TEST_CASE("the one-sided Bayes factor matches by-hand values", "[sequential]") {
  // Uniform prior truncated to (1/2, 1), two successes:
  // (int_{1/2}^1 t^2 dt / (1/2)) / (1/2)^2 = (7/12) * 4 = 7/3.
  CHECK(Near(LogOneSidedBF(2, 0, 0.5, 2), std::log(7.0 / 3)));
  CHECK(Near(LogOneSidedBF(0, 0, 0.3, 10), 0, 1e-12));
  // mpmath (40 digits):
  CHECK(Near(LogOneSidedBF(4, 2, 0.1, 10), 2.9369235594213035464));
  CHECK(Near(LogOneSidedBF(0, 50, 0.1, 10), -1.8803128665695000678));
  CHECK(Near(LogOneSidedBF(3, 0, 0.01, 10), 6.9001841245722932144));
  // The judge's prior (k = 3): the fewest all-failing requests that reach
  // 400 against max_error_rate 0.01 are 3 (log 400 = 5.99).
  CHECK(Near(LogOneSidedBF(2, 0, 0.01, 3), 5.6525844061539990073));
  CHECK(Near(LogOneSidedBF(3, 0, 0.01, 3), 9.3568596353642221497));
  // 10^7 trials on both sides of the null, and at the extremes.
  CHECK(
      Near(LogOneSidedBF(100000, 9900000, 0.0101, 10), -7.8398984234731756832));
  CHECK(
      Near(LogOneSidedBF(101000, 9899000, 0.01, 10), -0.65680202401197455929));
  CHECK(Near(LogOneSidedBF(0, 10000000, 0.01, 10), -12.365474555150728269));
  CHECK(
      Near(LogOneSidedBF(10000000, 0, 0.01, 10), 46051554.575385522144, 1e-12));
}

TEST_CASE("the one-sided Bayes factor never rewards data below the null",
          "[sequential]") {
  // The two-sided factor grows when the canary is better than the null;
  // the one-sided one does not.
  CHECK(LogBetaMixtureBF(0, 2000, 0.1, 10) > 2);
  CHECK(LogOneSidedBF(0, 2000, 0.1, 10) < 0);
  // More successes, more evidence; more failures, less.
  double last = LogOneSidedBF(0, 100, 0.1, 10);
  for (int s = 1; s <= 40; ++s) {
    const double now = LogOneSidedBF(s, 100, 0.1, 10);
    CHECK(now > last);
    last = now;
  }
  CHECK(LogOneSidedBF(5, 101, 0.1, 10) < LogOneSidedBF(5, 100, 0.1, 10));
}

TEST_CASE("the cheap upper bound is never below the one-sided factor",
          "[sequential]") {
  for (double r : {0.001, 0.01, 0.1, 0.5, 0.9})
    for (int64_t n : {1, 2, 10, 100, 1000, 100000})
      for (int64_t s = 0; s <= n; s += std::max<int64_t>(1, n / 37)) {
        INFO("r " << r << " s " << s << " n " << n);
        CHECK(LogOneSidedBFUpperBound(s, n - s, r) >=
              LogOneSidedBF(s, n - s, r, 10));
      }
  // By hand: all of 3 trials succeeding against r = 0.01 is at most
  // (1 / 0.01)^3; data below the null is at most 1.
  CHECK(Near(LogOneSidedBFUpperBound(3, 0, 0.01), 3 * std::log(100.0)));
  CHECK(LogOneSidedBFUpperBound(1, 99, 0.01) == 0);
  CHECK(LogOneSidedBFUpperBound(1, 0, 0) == kInf);
}

TEST_CASE("a null of 0 or 1 decides without a prior", "[sequential]") {
  CHECK(LogOneSidedBF(0, 500, 0, 10) == 0);
  CHECK(LogOneSidedBF(1, 500, 0, 10) == kInf);
  CHECK(LogOneSidedBF(500, 0, 1, 10) == -kInf);
}

TEST_CASE("the canary's share of errors follows its traffic share and ratio",
          "[sequential]") {
  CHECK(CanaryErrorShare(0.1, 1) == Approx(0.1).epsilon(1e-15));
  // 2x as many errors per request at 10%: 0.2 / (0.2 + 0.9) = 2/11.
  CHECK(Near(CanaryErrorShare(0.1, 2), 2.0 / 11));
  CHECK(Near(CanaryErrorShare(0.5, 1.25), 1.25 / 2.25));
  CHECK(CanaryErrorShare(0, 3) == 0);
  CHECK(CanaryErrorShare(1, 3) == 1);
}

// ---------------------------------------------------------------------------
// SequentialBet

TEST_CASE("a fresh bet starts at evidence 1 and splits its alpha over steps",
          "[sequential]") {
  SequentialBet bet(0.01);
  CHECK(bet.Evidence() == 1);
  bet.BeginStep(2);
  CHECK(bet.step_weight() == 0.5);
  CHECK(bet.spent() == 0.5);
  CHECK(Near(bet.Evidence(), 1));
  // 0.5 BF + 0.5 >= 100  <=>  BF >= 199.
  CHECK(Near(bet.LogBfNeeded(), std::log(199.0)));
  bet.Update(std::log(8.0));
  CHECK(Near(bet.Evidence(), 0.5 * 8 + 0.5));
  bet.EndStep();
  CHECK(Near(bet.log_carry(), std::log(4.0)));
  // The second step gets the other half, on top of the carried 4.
  bet.BeginStep(1);
  CHECK(bet.spent() == 1);
  CHECK(Near(bet.Evidence(), 4.5));
  CHECK(Near(bet.LogBfNeeded(), std::log(100 / 4.5)));
}

TEST_CASE("a bet crosses at exactly its bound and not below it",
          "[sequential]") {
  SequentialBet bet(0.25);
  bet.BeginStep(2);
  // 0.5 BF + 0.5 >= 4  <=>  BF >= 7.
  const double needed = bet.LogBfNeeded();
  CHECK(Near(needed, std::log(7.0), 1e-15));
  CHECK(bet.Update(needed));
  CHECK_FALSE(bet.Update(std::nextafter(needed, -kInf)));
  CHECK(bet.WouldCross(needed));
  CHECK_FALSE(bet.WouldCross(std::nextafter(needed, -kInf)));
  CHECK(bet.Update(kInf));
}

TEST_CASE("a step with no budget left rejects only on carried evidence",
          "[sequential]") {
  SequentialBet bet(0.1);
  bet.BeginStep(1);
  bet.Update(0);
  bet.EndStep();
  // All of the budget went to the first step; evidence 1 was carried.
  bet.BeginStep(0);
  CHECK(bet.step_weight() == 0);
  CHECK(Near(bet.Evidence(), 1));
  CHECK(Near(bet.LogBfNeeded(), std::log(10.0)));
  SequentialBet empty(0.1);
  empty.Restore(1, -kInf);
  empty.BeginStep(0);
  CHECK(empty.LogBfNeeded() == kInf);
  CHECK_FALSE(empty.Update(1e300));
  CHECK(empty.Evidence() == 0);
}

TEST_CASE("a restored bet continues with what the earlier process left",
          "[sequential]") {
  SequentialBet first(0.01);
  first.BeginStep(3);
  first.Update(std::log(30.0));
  const double spent = first.spent(), wealth = first.log_wealth();
  SequentialBet second(0.01);
  second.Restore(spent, wealth);
  CHECK(Near(second.Evidence(), first.Evidence()));
  second.BeginStep(2);
  CHECK(Near(second.step_weight(), (1 - 1.0 / 3) / 2));
  CHECK(Near(second.Evidence(), 10 + 2.0 / 3));
}

}  // namespace
}  // namespace bgctl
