#include "controller/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace bgctl {

namespace {

constexpr double kLowest = 1.0 / 16;  // 2^kMinExponent
constexpr double kHighest = 65536.0;  // 2^kMaxExponent

}  // namespace

int LatencyHistogram::BucketOf(double ms) {
  if (!(ms >= kLowest)) return 0;  // also NaN and negatives
  if (ms >= kHighest) return kBuckets - 1;
  // For a normal double the biased exponent and the top five mantissa bits
  // give the power of two and the 1/32 step within it: no log() needed.
  const uint64_t bits = std::bit_cast<uint64_t>(ms);
  const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  const int sub = static_cast<int>((bits >> 47) & (kSubBuckets - 1));
  return 1 + (exponent - kMinExponent) * kSubBuckets + sub;
}

double LatencyHistogram::BucketLower(int bucket) {
  if (bucket <= 0) return 0;
  if (bucket >= kBuckets - 1) return kHighest;
  const int i = bucket - 1;
  const int exponent = kMinExponent + i / kSubBuckets;
  const int sub = i % kSubBuckets;
  return std::ldexp(1.0 + static_cast<double>(sub) / kSubBuckets, exponent);
}

double LatencyHistogram::BucketUpper(int bucket) {
  if (bucket <= 0) return kLowest;
  if (bucket >= kBuckets - 1) return std::numeric_limits<double>::infinity();
  return BucketLower(bucket + 1);
}

void LatencyHistogram::Add(double ms) {
  if (!(ms > 0)) ms = 0;
  counts_[BucketOf(ms)]++;
  if (count_ == 0 || ms < min_ms_) min_ms_ = ms;
  if (count_ == 0 || ms > max_ms_) max_ms_ = ms;
  count_++;
  sum_ms_ += ms;
}

double LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // p * count first: 99 * 200 / 100 is exactly 198, 0.99 * 200 is not.
  int64_t rank = static_cast<int64_t>(
      std::ceil(p * static_cast<double>(count_) / 100.0 - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, count_);
  // The first bucket whose running count reaches the rank. High
  // percentiles (the analysis asks for p90 and p99 on every tick) scan
  // down from the top, which visits few buckets: the same bucket, since the
  // one found is the lowest with count below it < rank <= count up to it.
  // Only the buckets from the minimum's to the maximum's hold values.
  const int lowest = BucketOf(min_ms_), highest = BucketOf(max_ms_);
  int bucket = lowest;
  if (2 * rank > count_) {
    int64_t above = 0;  // values in buckets above `bucket`, and in it
    for (bucket = highest; bucket > lowest; --bucket) {
      above += counts_[bucket];
      if (count_ - above < rank) break;
    }
  } else {
    int64_t seen = 0;
    for (; bucket < highest; ++bucket) {
      seen += counts_[bucket];
      if (seen >= rank) break;
    }
  }
  double value;
  if (bucket == 0) {
    value = min_ms_;  // the underflow bucket holds the minimum
  } else if (bucket >= kBuckets - 1) {
    value = max_ms_;  // so does the overflow bucket hold the maximum
  } else {
    value = (BucketLower(bucket) + BucketUpper(bucket)) / 2;
  }
  return std::clamp(value, min_ms_, max_ms_);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  for (int i = 0; i < kBuckets; ++i) {
    const uint64_t sum = uint64_t{counts_[i]} + other.counts_[i];
    counts_[i] = static_cast<uint32_t>(std::min(sum, kMax));
  }
  if (count_ == 0 || other.min_ms_ < min_ms_) min_ms_ = other.min_ms_;
  if (count_ == 0 || other.max_ms_ > max_ms_) max_ms_ = other.max_ms_;
  count_ += other.count_;
  sum_ms_ += other.sum_ms_;
}

LatencyHistogram::LatencyHistogram() {
  std::memset(counts_, 0, sizeof(counts_));
  count_ = 0;
  Clear();
}

void LatencyHistogram::Clear() {
  // Only the buckets from the minimum's to the maximum's hold values (none
  // when empty), so a cleared window costs a few cache lines, not 2.6 KB.
  if (count_ > 0) {
    const int lowest = BucketOf(min_ms_), highest = BucketOf(max_ms_);
    std::memset(counts_ + lowest, 0,
                sizeof(counts_[0]) * (highest - lowest + 1));
  }
  count_ = 0;
  min_ms_ = 0;
  max_ms_ = 0;
  sum_ms_ = 0;
}

}  // namespace bgctl
