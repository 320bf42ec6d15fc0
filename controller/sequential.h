// The statistics of the sequential canary judge (sequential_judge.h): Beta
// functions in log space, Beta-mixture Bayes factors for Bernoulli trials,
// and the test martingale that spends one test's share of a deploy's alpha
// across the steps of the deploy.
//
// Every test of the judge has the same shape: a stream of Bernoulli trials
// (an error is a "trial" of "does it come from the canary?", a canary
// request one of "is it a 5xx?", ...) and a null hypothesis "the success
// probability is at most theta0". The evidence against it is a Bayes factor
// BF_n of the data under a Beta(k theta0, k (1 - theta0)) mixture of
// alternatives against theta0. Under the null, BF_n is a nonnegative
// (super)martingale with BF_0 = 1, so by Ville's inequality the probability
// that it EVER reaches 1/alpha is at most alpha, however often one looks.
//
// Everything is computed in log space (lgamma in long double), so counts of
// 10^7 and more neither overflow nor lose the sign of a small log BF.
#ifndef BGCTL_CONTROLLER_SEQUENTIAL_H_
#define BGCTL_CONTROLLER_SEQUENTIAL_H_

#include <cstdint>
#include <limits>

namespace bgctl {

// log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b), for a, b > 0.
double LogBeta(double a, double b);

// log(1 - I_x(a, b)): the log of P(X > x) for X ~ Beta(a, b), a, b > 0.
// 0 for x <= 0, -infinity for x >= 1. Accurate where the tail is tiny
// (e.g. -800) as well as where it is nearly 1 (the regularized incomplete
// Beta function by its continued fraction, Lentz's method, in log space).
double LogBetaUpperTail(double x, double a, double b);

// The two-sided Beta-mixture Bayes factor of Lindon, Sanden & Shirikian
// (KDD 2022) for s successes and f failures against success probability r
// (0 < r < 1), prior Beta(k r, k (1 - r)), k > 0:
//   log BF = log B(k r + s, k (1 - r) + f) - log B(k r, k (1 - r))
//            - s log r - f log(1 - r).
double LogBetaMixtureBF(int64_t s, int64_t f, double r, double k);

// The one-sided version the judge decides with: the same prior truncated to
// theta > r, so that every alternative is "worse than r" and BF_n is a
// supermartingale under every theta <= r (not only theta == r):
//   log BF = log B(k r + s, k (1 - r) + f) + LogBetaUpperTail(r, k r + s, ...)
//            - log B(k r, k (1 - r)) - LogBetaUpperTail(r, k r, k (1 - r))
//            - s log r - f log(1 - r).
// Edge cases: r <= 0 gives +infinity when s > 0 (a success is impossible
// under the null) and 0 otherwise; r >= 1 gives -infinity.
double LogOneSidedBF(int64_t s, int64_t f, double r, double k);

// An upper bound of LogOneSidedBF that costs a few logs: the truncated
// mixture averages likelihood ratios over theta > r, so it is at most their
// largest, n KL(s/n || r) when s/n > r (n = s + f) and 0 otherwise. A test
// evaluates the exact factor only when this bound could reach its bound.
double LogOneSidedBFUpperBound(int64_t s, int64_t f, double r);

// The prior's part of LogOneSidedBF, log B(k r, k (1 - r)) +
// LogBetaUpperTail(r, k r, k (1 - r)), and LogOneSidedBF given it: a test
// with a fixed null computes it once.
double LogOneSidedPrior(double r, double k);
double LogOneSidedBF(int64_t s, int64_t f, double r, double k,
                     double log_prior);

// The probability that an error comes from the canary when the canary's
// error rate is `ratio` times stable's and it serves a share `rho` of the
// requests: rho * ratio / (rho * ratio + 1 - rho). (Under "no worse than
// stable", ratio = 1 and the share is rho itself.)
double CanaryErrorShare(double rho, double ratio);

// One test's bet across the steps of a deploy. The test owns `alpha` (its
// share of the deploy's alpha); each analysed step, when it starts, is
// given the weight w = (1 - spent) / steps_left of the remaining budget. The
// evidence at any moment is
//   M = W * BF_step + (1 - spent),   W = carry + w,
// where carry = W_prev * BF_prev(at its end) is what earlier steps left. M is
// a nonnegative supermartingale starting at 1 over the whole deploy (each
// step's BF starts at 1 and the weights never sum to more than 1), so
// rejecting when M >= 1/alpha keeps P(false rejection) <= alpha across every
// step, tick, pause and promote. Evidence gathered in one step carries into
// the next: a canary that looked a bit worse at 10% starts 50% ahead.
class SequentialBet {
 public:
  explicit SequentialBet(double alpha = 0.01) : alpha_(alpha) {}

  // Continues from what an earlier process of the same deploy left:
  // `spent` in [0, 1], `log_carry` (-infinity: nothing carried).
  void Restore(double spent, double log_carry);

  // Starts a step. steps_left counts this step and the analysed steps after
  // it; 0 gives this step no new weight (it can still reject on carried
  // evidence).
  void BeginStep(int steps_left);

  // The step's current log BF; returns true when M >= 1/alpha.
  bool Update(double log_bf);
  // Would a step log BF of `log_bf` cross? (Does not change the bet.)
  bool WouldCross(double log_bf) const;

  // Ends the step: carry = W * BF_step.
  void EndStep();

  double alpha() const { return alpha_; }
  double bound() const { return 1.0 / alpha_; }
  double spent() const { return spent_; }
  double log_carry() const { return log_carry_; }
  double step_weight() const { return step_weight_; }
  double log_bf() const { return log_bf_; }
  // log of W * BF_step (the bet's wealth in the current step); persisted as
  // the carry when a deploy is resumed by another process.
  double log_wealth() const;
  // M = W * BF_step + (1 - spent); +infinity is possible.
  double Evidence() const;
  // The same with another log BF_step than the last Update's (the bet is
  // unchanged).
  double LogWealthWith(double log_bf) const;
  double EvidenceWith(double log_bf) const;
  // The least log BF_step that crosses: log((1/alpha - (1 - spent)) / W).
  // +infinity when W is 0.
  double LogBfNeeded() const;

 private:
  double alpha_;
  double spent_ = 0;
  double log_carry_ = -std::numeric_limits<double>::infinity();
  double log_w_ = -std::numeric_limits<double>::infinity();  // log W
  double step_weight_ = 0;
  double log_bf_ = 0;
  bool in_step_ = false;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SEQUENTIAL_H_
