// End-to-end: metrics.textfile written by real deploys through a real nginx,
// checked by Prometheus's own linter (promtool, Debian package prometheus).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/e2e.h"
#include "tests/support/process_guard.h"
#include "tests/support/require.h"
#include "tests/support/service.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// `promtool check metrics < path` (it reads only stdin; sh opens the file,
// whose name is a positional parameter, never part of the script).
CommandResult Promtool(const std::string& path) {
  return RunCommand(
      {"sh", "-c", "exec promtool check metrics < \"$1\"", "sh", path}, 10000);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE(
    "promtool check metrics finds nothing to report in the metrics "
    "file of a real paused rollout and of its promotion",
    "[metrics_e2e]") {
  CommandResult probe = RunCommand({"promtool", "--version"}, 10000);
  if (probe.exit_code != 0)
    BGCTL_SKIP(
        "promtool is not installed (Debian package prometheus): " << probe.err);
  Service svc;
  ServiceOptions options;
  options.steps = "[{weight: 10, pause: forever}, {weight: 100}]";
  options.extra_yaml = "metrics:\n  textfile: metrics/svc.prom\n";
  REQUIRE(mkdir((svc.dir() + "/metrics").c_str(), 0755) == 0);
  RequireStartWithV1(&svc, options);
  const std::string path = svc.dir() + "/metrics/svc.prom";

  CommandResult deploy = svc.Bgctl({"deploy", "--version", "v2"});
  INFO(deploy.out << deploy.err);
  REQUIRE(deploy.exit_code == 0);
  for (int i = 0; i < 20; ++i) svc.Get("/");
  std::string paused = ReadWholeFile(path);
  CommandResult check = Promtool(path);
  INFO(paused);
  CHECK(check.exit_code == 0);
  CHECK(check.out + check.err == "");
  CHECK(Contains(paused, "bgctl_phase{service=\"svc\",phase=\"paused\"} 1\n"));
  CHECK(Contains(paused, "bgctl_canary_weight_ratio{service=\"svc\"} 0.1\n"));
  CHECK(Contains(paused,
                 "bgctl_analysis_requests{service=\"svc\",slot="
                 "\"green\",role=\"canary\"} "));
  CHECK(Contains(paused,
                 "bgctl_deploys_total{service=\"svc\",outcome="
                 "\"paused\"} 1\n"));

  CommandResult promote = svc.Bgctl({"promote"});
  INFO(promote.out << promote.err);
  REQUIRE(promote.exit_code == 0);
  std::string promoted = ReadWholeFile(path);
  check = Promtool(path);
  INFO(promoted);
  CHECK(check.exit_code == 0);
  CHECK(check.out + check.err == "");
  // v1's first deploy and v2's promote.
  CHECK(Contains(promoted,
                 "bgctl_deploys_total{service=\"svc\",outcome="
                 "\"promoted\"} 2\n"));
  CHECK(Contains(promoted,
                 "bgctl_version_info{service=\"svc\",role=\"stable\","
                 "slot=\"green\",version=\"v2\"} 1\n"));
  CHECK(Contains(promoted,
                 "bgctl_last_promotion_timestamp_seconds{service="
                 "\"svc\"} "));
  // Nothing but the metrics file itself is left in its folder.
  CHECK(RunCommand({"ls", "-A", svc.dir() + "/metrics"}, 5000).out ==
        "svc.prom\n");

  // validate wants the folder node_exporter reads to exist.
  options.extra_yaml = "metrics:\n  textfile: nowhere/svc.prom\n";
  const std::string other = svc.WriteConfig("nowhere.yaml", options);
  CommandResult valid = svc.Bgctl({"validate"}, other);
  CHECK(valid.exit_code == 2);
  CHECK(valid.err == "bgctl: " + other + ": metrics.textfile: the folder " +
                         svc.dir() +
                         "/nowhere does not exist (node_exporter's "
                         "--collector.textfile.directory)\n");
}
