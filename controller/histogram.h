// A fixed-memory latency histogram for canary analysis windows.
//
// Buckets are log-linear: every power of two from 2^-4 ms (62.5 us) up to
// 2^16 ms (65.5 s) is split into 32 equal sub-buckets, so a bucket spans at
// most 1/32 of its lower edge and Percentile(), which answers a bucket's
// midpoint, is off by at most 1.6% for values in that range. Smaller values
// (nginx logs $request_time in whole milliseconds, so 0 is common) share one
// underflow bucket, larger ones one overflow bucket. The exact minimum and
// maximum are kept and every answer is clamped to them, so a histogram whose
// values are all equal answers that value exactly.
//
// Memory is fixed (about 2.6 KB); Add() never allocates.
#ifndef BGCTL_CONTROLLER_HISTOGRAM_H_
#define BGCTL_CONTROLLER_HISTOGRAM_H_

#include <cstdint>

namespace bgctl {

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 32;   // per power of two
  static constexpr int kMinExponent = -4;  // 2^-4 ms = 62.5 us
  static constexpr int kMaxExponent = 16;  // 2^16 ms = 65.536 s (exclusive)
  static constexpr int kBuckets =
      (kMaxExponent - kMinExponent) * kSubBuckets + 2;  // + under/overflow

  LatencyHistogram();

  // Records one latency in milliseconds. Negative values and NaN count as 0.
  void Add(double ms);

  // The p-th percentile (p in [0, 100], clamped) in milliseconds: the value
  // below or at which p% of the recorded values lie, using the nearest-rank
  // definition (rank = ceil(p/100 * count), at least 1). 0 when empty.
  double Percentile(double p) const;

  // Adds all of `other`'s values to this histogram. Bucket counts saturate
  // at 2^32-1 (far beyond any analysis window).
  void Merge(const LatencyHistogram& other);

  // Forgets every value.
  void Clear();

  int64_t count() const { return count_; }
  double min_ms() const { return count_ ? min_ms_ : 0; }
  double max_ms() const { return count_ ? max_ms_ : 0; }
  double sum_ms() const { return sum_ms_; }

  // The bucket a value falls into, and a bucket's [lower, upper) edges in
  // milliseconds (the underflow bucket is [0, 2^-4), the overflow bucket
  // [2^16, infinity)). Exposed for tests.
  static int BucketOf(double ms);
  static double BucketLower(int bucket);
  static double BucketUpper(int bucket);

 private:
  uint32_t counts_[kBuckets];
  int64_t count_;
  double min_ms_;
  double max_ms_;
  double sum_ms_;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_HISTOGRAM_H_
