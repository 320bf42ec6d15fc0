// rollout.analysis keys of the sequential judge: method, alpha, margins.
#include <catch2/catch.hpp>
#include <string>

#include "controller/config.h"

namespace {

using bgctl::AnalysisMethod;
using bgctl::Config;

// The required keys; the analysis map starts at line 15.
const char kMinimal[] =
    "service: demo\n"
    "nginx:\n"
    "  upstream_file: nginx/run/upstream.conf\n"
    "  upstream_name: demo_backend\n"
    "  test_command: [nginx, -t]\n"
    "  reload_command: [nginx, -s, reload]\n"
    "  access_log: nginx/run/logs/access.log\n"
    "  probe_url: http://127.0.0.1:8080/__bgctl/generation\n"
    "slots:\n"
    "  blue: {port: 8081}\n"
    "  green: {port: 8082}\n"
    "backend:\n"
    "  command: [backend-sample, --port, \"{port}\"]\n"
    "rollout:\n"
    "  analysis:\n";  // 15

bool Parse(const std::string& analysis, Config* c, std::string* err) {
  return bgctl::ParseConfig(kMinimal + analysis, "bgctl.yaml", c, err);
}

std::string ErrorOf(const std::string& analysis) {
  Config c;
  std::string err;
  return Parse(analysis, &c, &err) ? "(no error)" : err;
}

TEST_CASE("the sequential judge is the default, with its defaults",
          "[config]") {
  Config c;
  std::string err;
  REQUIRE(Parse("    interval: 5s\n", &c, &err));
  const bgctl::AnalysisConfig& a = c.rollout.analysis;
  CHECK(a.method == AnalysisMethod::kSequential);
  CHECK(a.alpha == 0.01);
  CHECK(a.error_margin.relative == 0.25);
  CHECK(a.error_margin.absolute == 0.001);
  CHECK(a.latency_margin.relative == 0.25);
  CHECK(a.latency_margin.absolute == 10);
}

TEST_CASE("method, alpha and the margins are read", "[config]") {
  Config c;
  std::string err;
  REQUIRE(
      Parse("    method: windows\n"
            "    alpha: 0.05\n"
            "    error_margin: {relative: 0.5, absolute: 0.002}\n"
            "    latency_margin: {relative: 0.1, absolute: 25ms}\n",
            &c, &err));
  const bgctl::AnalysisConfig& a = c.rollout.analysis;
  CHECK(a.method == AnalysisMethod::kWindows);
  CHECK(a.alpha == 0.05);
  CHECK(a.error_margin.relative == 0.5);
  CHECK(a.error_margin.absolute == 0.002);
  CHECK(a.latency_margin.relative == 0.1);
  CHECK(a.latency_margin.absolute == 25);
  // One member alone keeps the other's default.
  REQUIRE(Parse("    error_margin: {relative: 0}\n", &c, &err));
  CHECK(c.rollout.analysis.error_margin.relative == 0);
  CHECK(c.rollout.analysis.error_margin.absolute == 0.001);
}

TEST_CASE("bad analysis keys name the file, line and key", "[config]") {
  CHECK(ErrorOf("    method: bayes\n") ==
        "bgctl.yaml:16: rollout.analysis.method: expected sequential or "
        "windows, got \"bayes\"");
  CHECK_THAT(ErrorOf("    alpha: 0\n"),
             Catch::StartsWith("bgctl.yaml:16: rollout.analysis.alpha: "));
  CHECK_THAT(ErrorOf("    alpha: 0.6\n"),
             Catch::StartsWith("bgctl.yaml:16: rollout.analysis.alpha: "));
  CHECK_THAT(ErrorOf("    alpha: often\n"),
             Catch::StartsWith("bgctl.yaml:16: rollout.analysis.alpha: "));
  CHECK_THAT(
      ErrorOf("    error_margin: 0.5\n"),
      Catch::StartsWith("bgctl.yaml:16: rollout.analysis.error_margin: "));
  CHECK_THAT(ErrorOf("    error_margin:\n      relative: -1\n"),
             Catch::StartsWith(
                 "bgctl.yaml:17: rollout.analysis.error_margin.relative: "));
  CHECK_THAT(ErrorOf("    error_margin: {absolute: 2}\n"),
             Catch::StartsWith(
                 "bgctl.yaml:16: rollout.analysis.error_margin.absolute: "));
  CHECK_THAT(ErrorOf("    latency_margin: {absolute: 10}\n"),
             Catch::StartsWith(
                 "bgctl.yaml:16: rollout.analysis.latency_margin.absolute: "));
  CHECK_THAT(ErrorOf("    latency_margin: {relativ: 0.2}\n"),
             Catch::StartsWith("bgctl.yaml:16: rollout.analysis.latency_margin"
                               ".relativ: "));
}

}  // namespace
