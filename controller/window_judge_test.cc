#include "controller/window_judge.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace bgctl {
namespace {

constexpr int kStablePort = 8081;
constexpr int kCanaryPort = 8082;
const std::string kStable = "127.0.0.1:8081";
const std::string kCanary = "127.0.0.1:8082";

// A line as nginx/'s log_format bgctl writes it.
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

void AddLines(WindowAnalyzer* a, int n, const std::string& line) {
  for (int i = 0; i < n; ++i) a->AddLine(line);
}

// `requests` requests all taking `latency_ms`, `errors` of them 5xx.
SlotStats Stats(int64_t requests, int64_t errors, double latency_ms) {
  SlotStats s;
  s.requests = requests;
  s.errors_5xx = errors;
  for (int64_t i = 0; i < requests; ++i) s.latency.Add(latency_ms);
  return s;
}

// The defaults of rollout.analysis: min_requests 50, max_error_rate 0.01,
// max_p99_latency 500ms, max_latency_ratio 1.5, max_cpu_percent 85.
AnalysisConfig Defaults() { return AnalysisConfig(); }

// ---------------------------------------------------------------------------
// Judge

TEST_CASE("an error rate equal to the limit passes and one above it fails",
          "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats stable = Stats(100, 0, 20);
  Verdict v = JudgeWindow(Stats(100, 1, 20), stable, 10, cfg);
  CHECK(v.kind == VerdictKind::kPass);
  CHECK(v.reason ==
        "error rate 0.010 (1/100), p99 20ms, p99 ratio 1.00, cpu 10%");
  CHECK(JudgeWindow(Stats(700, 7, 20), stable, 10, cfg).kind ==
        VerdictKind::kPass);
  v = JudgeWindow(Stats(100, 2, 20), stable, 10, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "error rate 0.020 > 0.010 (2/100)");
  v = JudgeWindow(Stats(701, 8, 20), stable, 10, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "error rate 0.011 > 0.010 (8/701)");

  AnalysisConfig zero = cfg;
  zero.max_error_rate = 0;
  CHECK(JudgeWindow(Stats(100, 0, 20), stable, 10, zero).kind ==
        VerdictKind::kPass);
  CHECK(JudgeWindow(Stats(100, 1, 20), stable, 10, zero).reason ==
        "error rate 0.010 > 0.000 (1/100)");
  AnalysisConfig fine = cfg;
  fine.max_error_rate = 0.0005;
  CHECK(JudgeWindow(Stats(10000, 6, 20), stable, 10, fine).reason ==
        "error rate 0.001 > 0.0005 (6/10000)");
}

TEST_CASE("a p99 equal to the limit passes and one above it fails",
          "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats few_stable = Stats(20, 0, 100);  // ratio not judged
  Verdict v = JudgeWindow(Stats(100, 0, 500), few_stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kPass);
  CHECK(v.reason == "error rate 0.000 (0/100), p99 500ms");
  v = JudgeWindow(Stats(100, 0, 500.5), few_stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "p99 500.5ms > 500ms");

  // The 99th of 100 requests decides: one slow request is allowed, two not.
  SlotStats one_slow = Stats(99, 0, 10);
  one_slow.requests++;
  one_slow.latency.Add(900);
  CHECK(JudgeWindow(one_slow, few_stable, -1, cfg).kind == VerdictKind::kPass);
  SlotStats two_slow = Stats(98, 0, 10);
  two_slow.requests += 2;
  two_slow.latency.Add(900);
  two_slow.latency.Add(900);
  CHECK(JudgeWindow(two_slow, few_stable, -1, cfg).reason ==
        "p99 900ms > 500ms");
}

TEST_CASE("a p99 ratio equal to the limit passes and one above it fails",
          "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats stable = Stats(100, 0, 100);
  Verdict v = JudgeWindow(Stats(100, 0, 150), stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kPass);
  CHECK(v.reason == "error rate 0.000 (0/100), p99 150ms, p99 ratio 1.50");
  v = JudgeWindow(Stats(100, 0, 151), stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "p99 ratio 1.51 > 1.50 (canary 151ms, stable 100ms)");
  v = JudgeWindow(Stats(100, 0, 320), stable, -1, cfg);
  CHECK(v.reason == "p99 ratio 3.20 > 1.50 (canary 320ms, stable 100ms)");
}

TEST_CASE(
    "the p99 ratio is judged only when the stable side has min_requests "
    "requests",
    "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  Verdict v = JudgeWindow(Stats(100, 0, 300), Stats(49, 0, 100), -1, cfg);
  CHECK(v.kind == VerdictKind::kPass);
  CHECK(v.reason == "error rate 0.000 (0/100), p99 300ms");
  v = JudgeWindow(Stats(100, 0, 300), Stats(50, 0, 100), -1, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "p99 ratio 3.00 > 1.50 (canary 300ms, stable 100ms)");
}

TEST_CASE("a stable p99 below 10 ms counts as 10 ms in the ratio",
          "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats stable = Stats(100, 0, 0);  // nginx logged 0.000
  CHECK(JudgeWindow(Stats(100, 0, 15), stable, -1, cfg).kind ==
        VerdictKind::kPass);
  CHECK(JudgeWindow(Stats(100, 0, 12), Stats(100, 0, 1), -1, cfg).kind ==
        VerdictKind::kPass);
  const Verdict v = JudgeWindow(Stats(100, 0, 20), stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "p99 ratio 2.00 > 1.50 (canary 20ms, stable 0ms)");
}

TEST_CASE(
    "cpu equal to the limit passes, above it fails, and unknown is not judged",
    "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats canary = Stats(100, 0, 20), stable = Stats(100, 0, 20);
  CHECK(JudgeWindow(canary, stable, 85, cfg).kind == VerdictKind::kPass);
  Verdict v = JudgeWindow(canary, stable, 85.5, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "cpu 85.5% > 85%");
  CHECK(JudgeWindow(canary, stable, 91, cfg).reason == "cpu 91% > 85%");
  v = JudgeWindow(canary, stable, -1, cfg);
  CHECK(v.kind == VerdictKind::kPass);
  CHECK(v.reason == "error rate 0.000 (0/100), p99 20ms, p99 ratio 1.00");
}

TEST_CASE(
    "fewer canary requests than min_requests give no verdict, but high cpu "
    "still fails",
    "[analysis][windows]") {
  const AnalysisConfig cfg = Defaults();
  const SlotStats stable = Stats(1000, 0, 20);
  // All errors and very slow, but only 49 requests: no evidence yet.
  Verdict v = JudgeWindow(Stats(49, 49, 5000), stable, 85, cfg);
  CHECK(v.kind == VerdictKind::kNoData);
  CHECK(v.reason == "49 canary requests < min_requests 50");
  v = JudgeWindow(Stats(49, 0, 20), stable, 90, cfg);
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(v.reason == "cpu 90% > 85%");
  v = JudgeWindow(Stats(50, 0, 20), stable, 10, cfg);
  CHECK(v.kind == VerdictKind::kPass);

  AnalysisConfig none = cfg;
  none.min_requests = 0;  // zero requests are never a pass
  v = JudgeWindow(Stats(0, 0, 0), stable, -1, none);
  CHECK(v.kind == VerdictKind::kNoData);
  CHECK(v.reason == "0 canary requests < min_requests 1");
}

TEST_CASE("every broken rule is named in the reason", "[analysis][windows]") {
  const Verdict v =
      JudgeWindow(Stats(100, 30, 612), Stats(100, 0, 100), 91, Defaults());
  CHECK(v.kind == VerdictKind::kFail);
  CHECK(
      v.reason ==
      "error rate 0.300 > 0.010 (30/100); p99 612ms > 500ms; p99 ratio 6.12 > "
      "1.50 (canary 612ms, stable 100ms); cpu 91% > 85%");
}

// ---------------------------------------------------------------------------
// Attribution

TEST_CASE(
    "a request counts for the slot of the last upstream, with the last "
    "upstream status",
    "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(1000);
  a.AddLine(Line(kCanary, "200", 200, 0.010));
  a.AddLine(Line(kCanary, "503", 503, 0.020));
  a.AddLine(Line(kCanary, "", 500, 0.030));     // no upstream_status: $status
  a.AddLine(Line(kCanary, "-", 504, 0.040));    // not a number: $status
  a.AddLine(Line(kStable, "200", 500, 0.001));  // the upstream's 200 counts
  a.AddLine(Line(kStable, "499", 499, 0.001));
  WindowResult w;
  REQUIRE(a.Tick(6000, -1, &w));
  CHECK(w.canary.requests == 4);
  CHECK(w.canary.errors_5xx == 3);
  CHECK(w.canary.retried_away == 0);
  CHECK(w.canary.latency.count() == 4);
  CHECK(w.canary.latency.max_ms() == 40);
  CHECK(w.stable.requests == 2);
  CHECK(w.stable.errors_5xx == 0);
  CHECK(w.no_upstream == 0);
  CHECK(a.lines() == 6);
}

TEST_CASE("a retry away from the canary counts as a canary failure",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  // Retried from canary to stable: a canary failure and a stable success.
  a.AddLine(Line(kCanary + ", " + kStable, "502, 200", 200, 0.012));
  // The same across groups of an internal redirect.
  a.AddLine(Line(kCanary + " : " + kStable, "502 : 200", 200, 0.005));
  // Tried twice on the canary, then stable: still one canary failure.
  a.AddLine(Line(kCanary + ", " + kCanary + ", " + kStable, "502, 502, 200",
                 200, 0.007));
  // Retried from stable to canary: the other way round.
  a.AddLine(Line(kStable + ", " + kCanary, "502, 200", 200, 0.004));
  // Retried within the canary: it ended there, nothing was retried away.
  a.AddLine(Line(kCanary + ", " + kCanary, "502, 200", 200, 0.003));
  // Retried from the canary to nowhere.
  a.AddLine(Line(kCanary + ", -", "502, -", 502, 0.002));
  WindowResult w;
  REQUIRE(a.Tick(5000, -1, &w));
  CHECK(w.canary.requests == 6);  // 4 retried away + 2 that ended there
  CHECK(w.canary.errors_5xx == 4);
  CHECK(w.canary.retried_away == 4);
  CHECK(w.canary.latency.count() == 2);  // retries add no latency
  CHECK(w.stable.requests == 4);         // 3 that ended there + 1 retried away
  CHECK(w.stable.errors_5xx == 1);
  CHECK(w.stable.retried_away == 1);
  CHECK(w.stable.latency.count() == 3);
  CHECK(w.no_upstream == 1);
}

TEST_CASE(
    "no upstream, other upstreams and malformed lines count against neither "
    "slot",
    "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  a.AddLine(Line("-", "-", 502, 0));
  a.AddLine(Line("demo_backend", "-", 502, 0));  // "no live upstreams"
  a.AddLine(Line("127.0.0.1:9999", "500", 500, 0.001));
  a.AddLine("not json");
  a.AddLine(R"({"status":200,"request_time":0.1})");
  WindowResult w;
  REQUIRE(a.Tick(5000, -1, &w));
  CHECK(w.canary.requests == 0);
  CHECK(w.stable.requests == 0);
  CHECK(w.no_upstream == 2);
  CHECK(w.other_upstream == 1);
  CHECK(a.no_upstream() == 2);
  CHECK(a.other_upstream() == 1);
  CHECK(a.malformed_lines() == 2);
  CHECK(a.lines() == 3);
}

TEST_CASE("lines before a window starts are not judged",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  WindowResult w;
  a.AddLine(Line(kCanary, "200", 200, 0.001));
  CHECK(a.ignored_lines() == 1);
  CHECK_FALSE(a.window_open());
  CHECK_FALSE(a.Tick(100000, -1, &w));
  a.StartWindow(0);
  AddLines(&a, 3, Line(kCanary, "500", 500, 0.001));
  CHECK(a.open_canary().requests == 3);
  a.StartWindow(100);  // the weight changed: start over
  CHECK(a.open_canary().requests == 0);
  a.AddLine(Line(kCanary, "200", 200, 0.001));
  REQUIRE(a.Tick(5100, -1, &w));
  CHECK(w.index == 0);
  CHECK(w.start_ms == 100);
  CHECK(w.canary.requests == 1);
  CHECK(w.canary.errors_5xx == 0);
}

// ---------------------------------------------------------------------------
// Windows

TEST_CASE("a window closes when its interval has passed, not before",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(1000);
  WindowResult w;
  CHECK_FALSE(a.Tick(5999, -1, &w));
  REQUIRE(a.Tick(6000, -1, &w));
  CHECK(w.index == 0);
  CHECK(w.start_ms == 1000);
  CHECK(w.end_ms == 6000);
  CHECK_FALSE(w.early);
  CHECK(w.verdict.kind == VerdictKind::kNoData);
  CHECK_FALSE(a.Tick(10999, -1, &w));
  REQUIRE(a.Tick(11000, -1, &w));
  CHECK(w.index == 1);
  CHECK(w.start_ms == 6000);
  CHECK(a.windows().size() == 2);
}

TEST_CASE("closing windows in a loop ends even with a zero interval",
          "[analysis][windows]") {
  AnalysisConfig cfg = Defaults();
  cfg.interval_ms = 0;
  WindowAnalyzer a(cfg, kStablePort, kCanaryPort);
  a.StartWindow(100);
  WindowResult w;
  CHECK_FALSE(a.Tick(100, -1, &w));
  int closed = 0;
  while (closed < 10 && a.Tick(101, -1, &w)) closed++;
  CHECK(closed == 1);
  CHECK(w.end_ms == 101);
}

TEST_CASE(
    "the fast path closes a window at exactly min_requests failing requests "
    "and not before",
    "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  WindowResult w;
  AddLines(&a, 49, Line(kCanary, "502", 502, 0.001));
  AddLines(&a, 500, Line(kStable, "200", 200, 0.001));
  CHECK_FALSE(a.Tick(1, -1, &w));
  a.AddLine(Line(kCanary, "502", 502, 0.001));
  REQUIRE(a.Tick(2, -1, &w));
  CHECK(w.early);
  CHECK(w.start_ms == 0);
  CHECK(w.end_ms == 2);
  CHECK(w.verdict.kind == VerdictKind::kFail);
  CHECK(w.verdict.reason == "error rate 1.000 > 0.010 (50/50)");
  CHECK(a.failed_windows() == 1);
  // The next window starts at the close, empty.
  CHECK(a.open_canary().requests == 0);
  CHECK_FALSE(a.Tick(3, -1, &w));
  REQUIRE(a.Tick(5002, -1, &w));
  CHECK(w.index == 1);
  CHECK(w.start_ms == 2);
}

TEST_CASE(
    "a step ending before the interval judges its window only with "
    "min_requests canary requests",
    "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  WindowResult w;
  a.StartWindow(0);
  AddLines(&a, 49, Line(kCanary, "200", 200, 0.001));
  CHECK_FALSE(a.CloseAtStepEnd(1000, -1, &w));
  CHECK_FALSE(a.window_open());
  CHECK(a.next_window_index() == 0);
  a.StartWindow(2000);
  AddLines(&a, 50, Line(kCanary, "200", 200, 0.001));
  REQUIRE(a.CloseAtStepEnd(3000, -1, &w));
  CHECK(w.index == 0);
  CHECK(w.start_ms == 2000);
  CHECK(w.end_ms == 3000);
  CHECK(w.verdict.kind == VerdictKind::kPass);
  CHECK_FALSE(a.window_open());
  CHECK(a.any_verdict_since(0));
}

TEST_CASE("the fast path closes a window on an absolute p99 over the limit",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  WindowResult w;
  AddLines(&a, 49, Line(kCanary, "200", 200, 0.600));
  CHECK_FALSE(a.Tick(10, -1, &w));
  a.AddLine(Line(kCanary, "200", 200, 0.600));
  REQUIRE(a.Tick(20, -1, &w));
  CHECK(w.early);
  CHECK(w.verdict.reason == "p99 600ms > 500ms");
}

TEST_CASE("the fast path ignores the ratio, cpu and passing windows",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  WindowResult w;
  AddLines(&a, 100, Line(kCanary, "200", 200, 0.400));
  AddLines(&a, 100, Line(kStable, "200", 200, 0.100));
  CHECK_FALSE(a.Tick(1, 99, &w));
  CHECK_FALSE(a.Tick(4999, 99, &w));
  REQUIRE(a.Tick(5000, 99, &w));
  CHECK_FALSE(w.early);
  CHECK(w.verdict.kind == VerdictKind::kFail);
  CHECK(w.verdict.reason ==
        "p99 ratio 4.00 > 1.50 (canary 400ms, stable 100ms); cpu 99% > 85%");
  CHECK(w.canary_cpu_percent == 99);
}

TEST_CASE("the rollout can ask whether a step got a verdict",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  WindowResult w;
  a.StartWindow(0);
  const int step_start = a.next_window_index();
  CHECK(step_start == 0);
  REQUIRE(a.Tick(5000, -1, &w));  // empty: no data
  CHECK_FALSE(a.any_verdict_since(step_start));
  AddLines(&a, 50, Line(kCanary, "200", 200, 0.010));
  REQUIRE(a.Tick(10000, -1, &w));
  CHECK(w.verdict.kind == VerdictKind::kPass);
  CHECK(a.any_verdict_since(step_start));
  CHECK(a.any_verdict_since(1));
  CHECK_FALSE(a.any_verdict_since(2));
  CHECK(a.next_window_index() == 2);
  CHECK(a.failed_windows() == 0);
  AddLines(&a, 50, Line(kCanary, "500", 500, 0.010));
  REQUIRE(a.Tick(10001, -1, &w));
  CHECK(a.failed_windows() == 1);
  CHECK(a.any_verdict_since(2));
  CHECK(a.windows().size() == 3);
}

TEST_CASE("only the last windows are kept, their counts stay",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  a.StartWindow(0);
  const int n = static_cast<int>(WindowAnalyzer::kMaxKeptWindows) + 1;
  for (int i = 1; i <= n; ++i) {
    a.AddLine(Line(kCanary, "500", 500, 0.001));
    REQUIRE(a.Tick(i * 5000, -1, nullptr));
  }
  CHECK(a.windows().size() == WindowAnalyzer::kMaxKeptWindows);
  CHECK(a.windows().front().index == 1);
  CHECK(a.windows().back().index == n - 1);
  CHECK(a.next_window_index() == n);
}

// Three windows: a normal failure, an early failure and no data.
void FillThreeWindows(WindowAnalyzer* a) {
  a->StartWindow(0);
  for (int i = 0; i < 60; ++i) {
    a->AddLine(Line(kCanary, i < 6 ? "500" : "200", i < 6 ? 500 : 200, 0.004));
  }
  AddLines(a, 540, Line(kStable, "200", 200, 0.003));
  a->AddLine(Line("-", "-", 502, 0));
  a->AddLine("{broken");
  REQUIRE(a->Tick(5000, 12.5, nullptr));
  AddLines(a, 50, Line(kCanary, "502", 502, 0.001));
  REQUIRE(a->Tick(6000, -1, nullptr));
  REQUIRE(a->Tick(11000, 3, nullptr));
}

TEST_CASE("the rollback table shows every window and slot with the verdicts",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  FillThreeWindows(&a);
  CHECK(
      a.FormatTable() ==
      "window  slot    requests  errors  error_rate  p99_ms  verdict\n"
      "0       canary        60       6       0.100     4.0  fail: error rate "
      "0.100 > 0.010 (6/60)\n"
      "0       stable       540       0       0.000     3.0\n"
      "1       canary        50      50       1.000     1.0  fail (early): "
      "error rate 1.000 > 0.010 (50/50)\n"
      "1       stable         0       0       0.000     0.0\n"
      "2       canary         0       0       0.000     0.0  no_data: 0 canary "
      "requests < min_requests 50\n"
      "2       stable         0       0       0.000     0.0\n"
      "no upstream: 1, other upstream: 0, malformed lines: 1\n");
}

TEST_CASE("the windows convert to JSON for --output json",
          "[analysis][windows]") {
  WindowAnalyzer a(Defaults(), kStablePort, kCanaryPort);
  FillThreeWindows(&a);
  const nlohmann::json j = a.ToJson();
  REQUIRE(j["windows"].size() == 3);
  const nlohmann::json& w0 = j["windows"][0];
  CHECK(w0["index"] == 0);
  CHECK(w0["start_ms"] == 0);
  CHECK(w0["end_ms"] == 5000);
  CHECK(w0["early"] == false);
  CHECK(w0["verdict"] == "fail");
  CHECK(w0["reason"] == "error rate 0.100 > 0.010 (6/60)");
  CHECK(w0["canary_cpu_percent"] == 12.5);
  CHECK(w0["no_upstream"] == 1);
  CHECK(w0["canary"]["requests"] == 60);
  CHECK(w0["canary"]["errors_5xx"] == 6);
  CHECK(w0["canary"]["retried_away"] == 0);
  CHECK(w0["canary"]["error_rate"] == 0.1);
  CHECK(w0["canary"]["p99_ms"] == 4.0);
  CHECK(w0["stable"]["requests"] == 540);
  CHECK(w0["stable"]["p50_ms"] == 3.0);
  CHECK(j["windows"][1]["early"] == true);
  CHECK(j["windows"][1]["canary_cpu_percent"].is_null());
  CHECK(j["windows"][2]["verdict"] == "no_data");
  CHECK(j["failed_windows"] == 2);
  CHECK(j["malformed_lines"] == 1);
  CHECK(j["no_upstream"] == 1);
  CHECK(j["other_upstream"] == 0);
}

// ---------------------------------------------------------------------------
// WindowJudge: the rule behind the CanaryJudge interface

JudgeSetup Plan(std::vector<StepConfig> steps) {
  JudgeSetup s;
  s.stable_port = kStablePort;
  s.canary_port = kCanaryPort;
  s.steps = std::move(steps);
  return s;
}

TEST_CASE("the window judge rejects at failure_limit failed windows",
          "[analysis][windows]") {
  AnalysisConfig cfg = Defaults();
  cfg.min_requests = 20;
  WindowJudge j(cfg, Plan({{10, 5000, false}, {100, 0, false}}));
  j.BeginStep(0, 10, 0);
  for (int i = 0; i < 20; ++i) j.AddLine(Line(kCanary, "503", 503, 0.005));
  Decision d = j.Update(300, -1);
  CHECK(d.kind == DecisionKind::kContinue);  // 1 failed window of 2
  std::vector<JudgeEvent> events = j.TakeEvents();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "window");
  CHECK(events[0].message ==
        "window 0: canary 20 req, 100.0% 5xx, p99 5 ms; stable 0 req, p99 0 "
        "ms: fail (error rate 1.000 > 0.010 (20/20))");
  for (int i = 0; i < 20; ++i) j.AddLine(Line(kCanary, "503", 503, 0.005));
  d = j.Update(700, -1);
  CHECK(d.kind == DecisionKind::kReject);
  CHECK(d.reason ==
        "2 failed windows (limit 2), last: error rate 1.000 > 0.010 (20/20)");
  const nlohmann::json doc = j.EvidenceJson();
  CHECK(doc["method"] == "windows");
  REQUIRE(doc["decisions"].size() == 1);
  CHECK(doc["decisions"][0]["decision"] == "reject");
  CHECK(doc["decisions"][0]["after_ms"] == 700);
  CHECK_THAT(j.EvidenceTable(), Catch::StartsWith("window  slot"));
}

TEST_CASE(
    "the window judge ends a step with a pause and no verdict as no_data, "
    "and one without a pause as a pass",
    "[analysis][windows]") {
  AnalysisConfig cfg = Defaults();
  cfg.min_requests = 10;
  WindowJudge j(cfg, Plan({{10, 1000, false}, {100, 0, false}}));
  j.BeginStep(0, 10, 0);
  for (int i = 0; i < 9; ++i) j.AddLine(Line(kCanary, "200", 200, 0.005));
  CHECK(j.Live().canary.requests == 9);
  CHECK(j.Update(500, -1).kind == DecisionKind::kContinue);
  Decision d = j.EndStep(1000, -1);
  CHECK(d.kind == DecisionKind::kNoData);
  CHECK(d.reason == "fewer than 10 canary requests in every window");
  j.BeginStep(1, 100, 1000);
  d = j.EndStep(1000, -1);
  CHECK(d.kind == DecisionKind::kPass);
  CHECK(j.EvidenceJson()["decisions"].size() == 2);
  CHECK(j.EvidenceJson()["step"].is_null());
}

TEST_CASE("the factory picks the judge analysis.method names",
          "[analysis][windows]") {
  AnalysisConfig cfg;
  CHECK(MakeJudge(cfg, Plan({}))->EvidenceJson()["method"] == "sequential");
  cfg.method = AnalysisMethod::kWindows;
  CHECK(MakeJudge(cfg, Plan({}))->EvidenceJson()["method"] == "windows");
}

}  // namespace
}  // namespace bgctl
