#include "controller/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

namespace bgctl {
namespace {

// The nearest-rank percentile of `values` (sorted in place).
double ExactPercentile(std::vector<double>* values, double p) {
  std::sort(values->begin(), values->end());
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100 * values->size()));
  rank = std::clamp<int64_t>(rank, 1, values->size());
  return (*values)[rank - 1];
}

TEST_CASE("an empty histogram answers 0 for every percentile",
          "[analysis][histogram]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.Percentile(0) == 0);
  CHECK(h.Percentile(50) == 0);
  CHECK(h.Percentile(99) == 0);
  CHECK(h.Percentile(100) == 0);
}

TEST_CASE("a histogram whose values are all equal answers that value exactly",
          "[analysis][histogram]") {
  for (double v : {0.0, 0.03, 1.0, 12.345, 500.0, 501.0, 59999.0, 120000.0}) {
    LatencyHistogram h;
    for (int i = 0; i < 7; ++i) h.Add(v);
    INFO("value " << v);
    CHECK(h.count() == 7);
    CHECK(h.Percentile(1) == v);
    CHECK(h.Percentile(50) == v);
    CHECK(h.Percentile(99) == v);
    CHECK(h.min_ms() == v);
    CHECK(h.max_ms() == v);
  }
}

TEST_CASE("negative and NaN latencies count as zero", "[analysis][histogram]") {
  LatencyHistogram h;
  h.Add(-5);
  h.Add(std::nan(""));
  CHECK(h.count() == 2);
  CHECK(h.Percentile(100) == 0);
  CHECK(h.sum_ms() == 0);
}

TEST_CASE("every value lies inside the bucket it is counted in",
          "[analysis][histogram]") {
  CHECK(LatencyHistogram::BucketOf(0) == 0);
  CHECK(LatencyHistogram::BucketOf(0.0624) == 0);
  CHECK(LatencyHistogram::BucketOf(0.0625) == 1);
  CHECK(LatencyHistogram::BucketOf(65535.9) == LatencyHistogram::kBuckets - 2);
  CHECK(LatencyHistogram::BucketOf(65536) == LatencyHistogram::kBuckets - 1);
  CHECK(LatencyHistogram::BucketOf(1e9) == LatencyHistogram::kBuckets - 1);
  CHECK(LatencyHistogram::kBuckets == 642);
  for (double v = 0.001; v < 1e6; v *= 1.0137) {
    const int b = LatencyHistogram::BucketOf(v);
    INFO("value " << v << " bucket " << b);
    CHECK(LatencyHistogram::BucketLower(b) <= v);
    CHECK(v < LatencyHistogram::BucketUpper(b));
    if (b > 0 && b < LatencyHistogram::kBuckets - 1) {
      // A bucket is at most 1/32 of its lower edge wide.
      CHECK(LatencyHistogram::BucketUpper(b) -
                LatencyHistogram::BucketLower(b) <=
            LatencyHistogram::BucketLower(b) / 32 + 1e-12);
    }
  }
}

TEST_CASE("percentiles are within 1.6% of the exact ones from 0.1 ms to 60 s",
          "[analysis][histogram]") {
  std::mt19937_64 rng(42);
  // Log-uniform over the whole range: every bucket gets used.
  std::uniform_real_distribution<double> log_ms(std::log(0.1), std::log(60000));
  std::vector<double> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    const double v = std::exp(log_ms(rng));
    values.push_back(v);
    h.Add(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9}) {
    const double exact = ExactPercentile(&values, p);
    INFO("p" << p << " exact " << exact << " histogram " << h.Percentile(p));
    CHECK(std::fabs(h.Percentile(p) - exact) <= exact * 0.016);
  }
}

TEST_CASE("the p99 of 100 values is the 99th smallest",
          "[analysis][histogram]") {
  LatencyHistogram h;
  for (int i = 0; i < 98; ++i) h.Add(10);
  h.Add(300);
  h.Add(900);
  // rank ceil(0.99 * 100) = 99: the value 300, within its bucket's error.
  CHECK(h.Percentile(99) == Approx(300).epsilon(0.016));
  CHECK(h.Percentile(100) == 900);
  CHECK(h.Percentile(50) == Approx(10).epsilon(0.016));
}

TEST_CASE("merging two histograms equals adding all values to one",
          "[analysis][histogram]") {
  LatencyHistogram a, b, all;
  for (int i = 1; i <= 500; ++i) {
    const double v = i * 0.7;
    (i % 3 == 0 ? a : b).Add(v);
    all.Add(v);
  }
  a.Merge(b);
  CHECK(a.count() == 500);
  CHECK(a.min_ms() == all.min_ms());
  CHECK(a.max_ms() == all.max_ms());
  CHECK(a.sum_ms() == Approx(all.sum_ms()));
  for (double p : {0.0, 25.0, 50.0, 75.0, 99.0, 100.0}) {
    CHECK(a.Percentile(p) == all.Percentile(p));
  }
  LatencyHistogram empty;
  a.Merge(empty);
  CHECK(a.count() == 500);
  empty.Merge(all);
  CHECK(empty.Percentile(50) == all.Percentile(50));
}

TEST_CASE("a cleared histogram is empty again", "[analysis][histogram]") {
  LatencyHistogram h;
  h.Add(5);
  h.Add(700);
  h.Clear();
  CHECK(h.count() == 0);
  CHECK(h.Percentile(99) == 0);
  h.Add(3);
  CHECK(h.Percentile(99) == 3);
  CHECK(h.min_ms() == 3);
}

}  // namespace
}  // namespace bgctl
