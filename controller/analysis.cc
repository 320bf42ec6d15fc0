#include "controller/analysis.h"

#include <cmath>

namespace bgctl {

LineOutcome Attribute(const LogRecord& r, int port_a, int port_b) {
  LineOutcome o;
  o.latency_ms = r.request_time_s * 1000;
  if (r.msec > 0)
    o.start_wall_ms = std::llround((r.msec - r.request_time_s) * 1000);
  const int ports[2] = {port_a, port_b};
  const std::string_view last = LastUpstreamEntry(r.upstream_addr);
  const int last_port = UpstreamPort(last);
  if (last.data() != r.upstream_addr.data()) {  // retries: earlier entries
    UpstreamList list(
        r.upstream_addr.substr(0, last.data() - r.upstream_addr.data()));
    std::string_view entry;
    bool tried[2] = {false, false};
    while (list.Next(&entry)) {
      const int port = UpstreamPort(entry);
      for (int i = 0; i < 2; ++i) tried[i] |= port != 0 && port == ports[i];
    }
    for (int i = 0; i < 2; ++i) {
      if (tried[i] && last_port != ports[i])
        o.slot[i] = {true, true, true, false};
    }
  }
  int ended = -1;
  for (int i = 0; i < 2; ++i)
    if (last_port != 0 && last_port == ports[i]) ended = i;
  if (ended < 0) {
    o.no_upstream = last_port == 0;
    o.other_upstream = last_port != 0;
    return o;
  }
  int status = LastUpstreamStatus(r.upstream_status);
  if (status == 0) status = r.status;
  o.slot[ended] = {true, status >= 500, false, true};
  return o;
}

bool AttributeLine(std::string_view line, int port_a, int port_b,
                   LineOutcome* out) {
  LogRecord r;
  if (!ParseLogLine(line, &r)) return false;
  *out = Attribute(r, port_a, port_b);
  return true;
}

void SlotStats::Add(const SlotHit& hit, double latency_ms) {
  if (!hit.request) return;
  requests++;
  if (hit.error) errors_5xx++;
  if (hit.retried_away) retried_away++;
  if (hit.ended) latency.Add(latency_ms);
}

double SlotStats::ErrorRate() const {
  return requests > 0 ? static_cast<double>(errors_5xx) / requests : 0;
}

void SlotStats::Clear() {
  requests = 0;
  errors_5xx = 0;
  retried_away = 0;
  latency.Clear();
}

nlohmann::json SlotStats::ToJson() const {
  return {{"requests", requests},
          {"errors_5xx", errors_5xx},
          {"retried_away", retried_away},
          {"error_rate", ErrorRate()},
          {"p50_ms", P50()},
          {"p90_ms", P90()},
          {"p95_ms", P95()},
          {"p99_ms", P99()}};
}

void TrafficStats::Add(const LineOutcome& o) {
  slot[0].Add(o.slot[0], o.latency_ms);
  slot[1].Add(o.slot[1], o.latency_ms);
  if (o.no_upstream) no_upstream++;
  if (o.other_upstream) other_upstream++;
}

void TrafficStats::Clear() {
  slot[0].Clear();
  slot[1].Clear();
  no_upstream = 0;
  other_upstream = 0;
}

}  // namespace bgctl
