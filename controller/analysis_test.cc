// The one attribution rule (analysis.h), used by both judges and the live
// view.
#include "controller/analysis.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace bgctl {
namespace {

constexpr int kStablePort = 8081;
constexpr int kCanaryPort = 8082;
const std::string kStableAddr = "127.0.0.1:8081";
const std::string kCanaryAddr = "127.0.0.1:8082";

std::string Line(const std::string& addr, const std::string& upstream_status,
                 int status, double request_time_s) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                R"({"msec":1763934000.123,"pid":4242,"method":"GET","uri":"/",)"
                R"("status":%d,"request_time":%.3f,"upstream_addr":"%s",)"
                R"("upstream_status":"%s","upstream_response_time":"%.3f",)"
                R"("bytes_sent":215,"time":"2026-11-23T21:40:00+00:00"})",
                status, request_time_s, addr.c_str(), upstream_status.c_str(),
                request_time_s);
  return buf;
}

LineOutcome Of(const std::string& line) {
  LineOutcome o;
  REQUIRE(AttributeLine(line, kStablePort, kCanaryPort, &o));
  return o;
}

TEST_CASE(
    "a line counts for the slot of its last upstream, with the last "
    "upstream status",
    "[analysis]") {
  LineOutcome o = Of(Line(kCanaryAddr, "503", 503, 0.020));
  CHECK(o.slot[kCanary].request);
  CHECK(o.slot[kCanary].error);
  CHECK(o.slot[kCanary].ended);
  CHECK_FALSE(o.slot[kCanary].retried_away);
  CHECK_FALSE(o.slot[kStable].request);
  CHECK(o.latency_ms == Approx(20));
  // The upstream's 200 counts, not nginx's 500 (e.g. an error page).
  CHECK_FALSE(Of(Line(kStableAddr, "200", 500, 0.001)).slot[kStable].error);
  // No upstream status, or not a number: $status.
  CHECK(Of(Line(kCanaryAddr, "", 500, 0.03)).slot[kCanary].error);
  CHECK(Of(Line(kCanaryAddr, "-", 504, 0.04)).slot[kCanary].error);
  CHECK_FALSE(Of(Line(kCanaryAddr, "499", 499, 0.04)).slot[kCanary].error);
}

TEST_CASE(
    "a retry away from a slot is one failed request of it, with no "
    "latency",
    "[analysis]") {
  LineOutcome o = Of(Line(kCanaryAddr + ", " + kCanaryAddr + ", " + kStableAddr,
                          "502, 502, 200", 200, 0.007));
  CHECK(o.slot[kCanary].request);
  CHECK(o.slot[kCanary].error);
  CHECK(o.slot[kCanary].retried_away);
  CHECK_FALSE(o.slot[kCanary].ended);
  CHECK(o.slot[kStable].request);
  CHECK_FALSE(o.slot[kStable].error);
  CHECK(o.slot[kStable].ended);
  // Within one slot: it ended there, nothing was retried away.
  o = Of(Line(kCanaryAddr + ", " + kCanaryAddr, "502, 200", 200, 0.003));
  CHECK_FALSE(o.slot[kCanary].retried_away);
  CHECK_FALSE(o.slot[kCanary].error);
  // To nowhere: a canary failure and a request that reached no upstream.
  o = Of(Line(kCanaryAddr + ", -", "502, -", 502, 0.002));
  CHECK(o.slot[kCanary].retried_away);
  CHECK(o.no_upstream);
  // Across the groups of an internal redirect.
  o = Of(Line(kCanaryAddr + " : " + kStableAddr, "502 : 200", 200, 0.005));
  CHECK(o.slot[kCanary].retried_away);
  CHECK(o.slot[kStable].ended);
}

TEST_CASE("no upstream and other upstreams count against neither slot",
          "[analysis]") {
  LineOutcome o = Of(Line("-", "-", 502, 0));
  CHECK(o.no_upstream);
  CHECK_FALSE(o.other_upstream);
  CHECK_FALSE(o.slot[0].request);
  CHECK_FALSE(o.slot[1].request);
  CHECK(Of(Line("demo_backend", "-", 502, 0)).no_upstream);
  o = Of(Line("127.0.0.1:9999", "500", 500, 0.001));
  CHECK(o.other_upstream);
  CHECK_FALSE(o.no_upstream);
  LineOutcome untouched;
  untouched.latency_ms = 7;
  CHECK_FALSE(AttributeLine("not json", kStablePort, kCanaryPort, &untouched));
  CHECK(untouched.latency_ms == 7);
}

TEST_CASE("traffic stats add up what the lines did to each slot",
          "[analysis]") {
  TrafficStats t;
  t.Add(Of(Line(kCanaryAddr, "200", 200, 0.010)));
  t.Add(Of(Line(kCanaryAddr, "500", 500, 0.030)));
  t.Add(Of(Line(kCanaryAddr + ", " + kStableAddr, "502, 200", 200, 0.004)));
  t.Add(Of(Line("-", "-", 502, 0)));
  t.Add(Of(Line("127.0.0.1:9999", "200", 200, 0.001)));
  const SlotStats& c = t.slot[kCanary];
  CHECK(c.requests == 3);
  CHECK(c.errors_5xx == 2);
  CHECK(c.retried_away == 1);
  CHECK(c.latency.count() == 2);
  CHECK(c.ErrorRate() == Approx(2.0 / 3));
  CHECK(t.slot[kStable].requests == 1);
  CHECK(t.no_upstream == 1);
  CHECK(t.other_upstream == 1);
  const nlohmann::json j = c.ToJson();
  CHECK(j["requests"] == 3);
  CHECK(j["retried_away"] == 1);
  CHECK(j["p99_ms"] == 30.0);
  t.Clear();
  CHECK(t.slot[kCanary].requests == 0);
  CHECK(t.slot[kCanary].latency.count() == 0);
  CHECK(t.no_upstream == 0);
}

TEST_CASE("the live view's ports attribute the same way", "[analysis]") {
  // (blue, green) instead of (stable, canary): same rule, other order.
  LineOutcome o;
  REQUIRE(AttributeLine(
      Line(kCanaryAddr + ", " + kStableAddr, "502, 200", 200, 0.004),
      kCanaryPort, kStablePort, &o));
  CHECK(o.slot[0].retried_away);
  CHECK(o.slot[1].ended);
}

}  // namespace
}  // namespace bgctl
