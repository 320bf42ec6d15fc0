// Attribution: what one access-log line says about the two slots. The ONE
// rule used by every judge of the canary (window_judge.h,
// sequential_judge.h) and by the live view (watch.h), so that the numbers a
// user watches are the numbers bgctl decides on.
//
// Attribution, by upstream port:
//  - a request belongs to the slot of the LAST entry of $upstream_addr;
//  - its status is the last $upstream_status entry when that is a number,
//    otherwise $status; status >= 500 is an error; its latency is
//    $request_time;
//  - a retry away from a slot (an earlier entry is that slot's port, the
//    last entry is not) counts as one failed request of that slot: it adds
//    1 to the slot's requests, errors_5xx and retried_away (once per line,
//    however many attempts), but nothing to its latency;
//  - "-" (no upstream reached) and any entry without a port count against
//    neither slot, in no_upstream; a last entry with another port (a server
//    that is neither slot) is counted in other_upstream;
//  - a request started when its line's $msec (when it ended) minus its
//    $request_time says; a judge counts only requests that started since
//    its step began (CanaryJudge::CountFrom), whenever they end.
#ifndef BGCTL_CONTROLLER_ANALYSIS_H_
#define BGCTL_CONTROLLER_ANALYSIS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "controller/access_log.h"
#include "controller/histogram.h"

namespace bgctl {

// The judges attribute with (stable port, canary port): slot[kStable] and
// slot[kCanary]. The live view uses (blue port, green port).
constexpr int kStable = 0;
constexpr int kCanary = 1;

// What one request did to one slot.
struct SlotHit {
  bool request = false;       // counts as one request of the slot
  bool error = false;         // ... and as one 5xx
  bool retried_away = false;  // a failed attempt nginx retried elsewhere
  bool ended = false;         // the request ended here (latency_ms is its)
};

struct LineOutcome {
  SlotHit slot[2];        // for port_a and port_b of Attribute()
  double latency_ms = 0;  // $request_time in milliseconds
  // When the request started, wall-clock ms ($msec - $request_time); 0 when
  // the line has no $msec.
  int64_t start_wall_ms = 0;
  bool no_upstream = false;
  bool other_upstream = false;
};

// The rule above, for one parsed line. Port 0 never matches.
LineOutcome Attribute(const LogRecord& record, int port_a, int port_b);

// Parses and attributes one line; false (and *out untouched) when the line
// is not one of bgctl's log format (ParseLogLine).
bool AttributeLine(std::string_view line, int port_a, int port_b,
                   LineOutcome* out);

// What one slot did over a span of time.
struct SlotStats {
  int64_t requests = 0;      // includes retried_away
  int64_t errors_5xx = 0;    // includes retried_away
  int64_t retried_away = 0;  // requests nginx retried on another slot
  LatencyHistogram latency;  // ms; requests that ended on this slot

  void Add(const SlotHit& hit, double latency_ms);
  // errors_5xx / requests; 0 without requests.
  double ErrorRate() const;
  double P50() const { return latency.Percentile(50); }
  double P90() const { return latency.Percentile(90); }
  double P95() const { return latency.Percentile(95); }
  double P99() const { return latency.Percentile(99); }
  void Clear();
  // {"requests", "errors_5xx", "retried_away", "error_rate", "p50_ms",
  //  "p90_ms", "p95_ms", "p99_ms"}
  nlohmann::json ToJson() const;
};

// Both slots and the lines that belong to neither, over a span of time.
struct TrafficStats {
  SlotStats slot[2];
  int64_t no_upstream = 0;
  int64_t other_upstream = 0;

  void Add(const LineOutcome& outcome);
  void Clear();
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ANALYSIS_H_
