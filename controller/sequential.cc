#include "controller/sequential.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bgctl {
namespace {

// Arguments above this are computed in long double: lgamma(1e4) is 8e4,
// and a double's 1e-16 of that is 1e-11.
constexpr double kLongDoubleAbove = 1e4;

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename Real>
Real LogBetaL(Real a, Real b) {
  return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
}

// log(x^a (1-x)^b / (a B(a, b))): the factor in front of the continued
// fraction of I_x(a, b).
template <typename Real>
Real LogFront(Real x, Real a, Real b) {
  return a * std::log(x) + b * std::log1p(-x) - std::log(a) - LogBetaL(a, b);
}

// The continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified
// Lentz). It converges fast for x < (a + 1) / (a + b + 2), in about
// sqrt(max(a, b)) terms at worst.
template <typename Real>
Real BetaContinuedFraction(Real x, Real a, Real b) {
  const Real kTiny = std::numeric_limits<Real>::min() * 1e10;
  const Real kEps = 4 * std::numeric_limits<Real>::epsilon();
  const Real qab = a + b, qap = a + 1, qam = a - 1;
  Real c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  Real h = d;
  const int max_terms =
      100000 + static_cast<int>(
                   10 * std::sqrt(static_cast<double>(std::max<Real>(a, b))));
  for (int m = 1; m <= max_terms; ++m) {
    const Real m2 = 2 * m;
    Real aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const Real del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}

// log I_x(a, b) by the fraction (call it where it converges).
template <typename Real>
Real LogLowerByFraction(Real x, Real a, Real b) {
  return LogFront(x, a, b) + std::log(BetaContinuedFraction(x, a, b));
}

template <typename Real>
Real LogUpperTailL(Real x, Real a, Real b) {
  if (!(x > 0)) return 0;
  if (!(x < 1)) return -kInf;
  if (x < (a + 1) / (a + b + 2)) {
    // The lower tail converges here; the upper one is 1 minus it, unless
    // that cancels (a lower tail within ~1e-13 of 1), then sum the upper
    // tail's own fraction, slower but exact.
    const Real upper = -std::expm1(LogLowerByFraction(x, a, b));
    if (upper > Real(1e-13)) return std::log(upper);
  }
  return LogLowerByFraction(1 - x, b, a);
}

}  // namespace

double LogBeta(double a, double b) {
  if (std::max(a, b) > kLongDoubleAbove)
    return static_cast<double>(LogBetaL<long double>(a, b));
  return LogBetaL<double>(a, b);
}

double LogBetaUpperTail(double x, double a, double b) {
  if (std::max(a, b) > kLongDoubleAbove)
    return static_cast<double>(LogUpperTailL<long double>(x, a, b));
  return LogUpperTailL<double>(x, a, b);
}

double LogBetaMixtureBF(int64_t s, int64_t f, double r, double k) {
  using Real = long double;
  const Real a = static_cast<Real>(k) * r, b = static_cast<Real>(k) * (1 - r);
  const Real sl = static_cast<Real>(s), fl = static_cast<Real>(f);
  return static_cast<double>(LogBetaL(a + sl, b + fl) - LogBetaL(a, b) -
                             sl * std::log(static_cast<Real>(r)) -
                             fl * std::log1p(-static_cast<Real>(r)));
}

double LogOneSidedPrior(double r, double k) {
  const double a = k * r, b = k * (1 - r);
  return LogBeta(a, b) + LogBetaUpperTail(r, a, b);
}

namespace {

template <typename Real>
double OneSided(int64_t s, int64_t f, double r, double k, double log_prior) {
  const Real rl = r;
  const Real a = static_cast<Real>(k) * rl, b = static_cast<Real>(k) * (1 - rl);
  const Real sl = static_cast<Real>(s), fl = static_cast<Real>(f);
  const Real posterior =
      LogBetaL(a + sl, b + fl) + LogUpperTailL(rl, a + sl, b + fl);
  return static_cast<double>(posterior - log_prior - sl * std::log(rl) -
                             fl * std::log1p(-rl));
}

}  // namespace

double LogOneSidedBF(int64_t s, int64_t f, double r, double k,
                     double log_prior) {
  if (!(r > 0)) return s > 0 ? kInf : 0;
  if (!(r < 1)) return -kInf;
  // The differences of large log Beta values need the extra digits.
  if (static_cast<double>(s) + static_cast<double>(f) + k > kLongDoubleAbove)
    return OneSided<long double>(s, f, r, k, log_prior);
  return OneSided<double>(s, f, r, k, log_prior);
}

double LogOneSidedBF(int64_t s, int64_t f, double r, double k) {
  if (!(r > 0)) return s > 0 ? kInf : 0;
  if (!(r < 1)) return -kInf;
  return LogOneSidedBF(s, f, r, k, LogOneSidedPrior(r, k));
}

double LogOneSidedBFUpperBound(int64_t s, int64_t f, double r) {
  if (!(r > 0)) return s > 0 ? kInf : 0;
  if (!(r < 1)) return -kInf;
  const double n = static_cast<double>(s) + static_cast<double>(f);
  if (n == 0 || static_cast<double>(s) <= r * n) return 0;
  // s log(p / r) + f log((1 - p) / (1 - r)) with p = s / n.
  const double sd = static_cast<double>(s), fd = static_cast<double>(f);
  const double up = sd * std::log(sd / (n * r));
  const double down = fd > 0 ? fd * std::log(fd / (n * (1 - r))) : 0;
  // A hair above the exact maximum, so rounding never makes it a lower one.
  return (up + down) * (1 + 1e-12) + 1e-12;
}

double CanaryErrorShare(double rho, double ratio) {
  if (!(rho > 0)) return 0;
  if (!(rho < 1)) return 1;
  return rho * ratio / (rho * ratio + 1 - rho);
}

void SequentialBet::Restore(double spent, double log_carry) {
  spent_ = std::clamp(spent, 0.0, 1.0);
  log_carry_ = log_carry;
  log_w_ = log_carry;
  log_bf_ = 0;
  step_weight_ = 0;
  in_step_ = false;
}

void SequentialBet::BeginStep(int steps_left) {
  step_weight_ = steps_left > 0 ? (1 - spent_) / steps_left : 0;
  spent_ = std::min(1.0, spent_ + step_weight_);
  // log(carry + w) without leaving log space.
  const double log_w = step_weight_ > 0 ? std::log(step_weight_) : -kInf;
  const double hi = std::max(log_carry_, log_w),
               lo = std::min(log_carry_, log_w);
  log_w_ = hi == -kInf ? -kInf : hi + std::log1p(std::exp(lo - hi));
  log_bf_ = 0;
  in_step_ = true;
}

double SequentialBet::LogBfNeeded() const {
  if (log_w_ == -kInf) return kInf;
  return std::log(1.0 / alpha_ - (1 - spent_)) - log_w_;
}

bool SequentialBet::WouldCross(double log_bf) const {
  return in_step_ && log_bf >= LogBfNeeded();
}

bool SequentialBet::Update(double log_bf) {
  log_bf_ = log_bf;
  return WouldCross(log_bf);
}

void SequentialBet::EndStep() {
  if (!in_step_) return;
  log_carry_ = log_wealth();
  log_w_ = log_carry_;
  log_bf_ = 0;
  in_step_ = false;
}

double SequentialBet::log_wealth() const { return LogWealthWith(log_bf_); }

double SequentialBet::LogWealthWith(double log_bf) const {
  if (!in_step_) return log_carry_;
  if (log_w_ == -kInf) return -kInf;
  return log_w_ + log_bf;
}

double SequentialBet::Evidence() const { return EvidenceWith(log_bf_); }

double SequentialBet::EvidenceWith(double log_bf) const {
  return std::exp(LogWealthWith(log_bf)) + (1 - spent_);
}

}  // namespace bgctl
