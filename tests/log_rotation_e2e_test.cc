// bgctl keeps reading nginx's access log across a rotation as Debian's
// logrotate rule for nginx does it (/etc/logrotate.d/nginx: rename to .1,
// `create 0640`, then nginx reopens its logs), so a log under
// /var/log/nginx/ can be bgctl's.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/e2e.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using namespace bgctl::testing;  // NOLINT: test helpers

TEST_CASE(
    "a log rotated by logrotate's rule for nginx between the start of a "
    "deploy and its first step is followed: a bad canary is still judged "
    "from the new file and rolled back",
    "[rotation_e2e]") {
  Service svc;
  ServiceOptions good;
  good.steps = "[{weight: 50, pause: 4s}, {weight: 100}]";
  good.analysis =
      "{method: windows, interval: 1s, min_requests: 10, failure_limit: 1, "
      "max_error_rate: 0.05, max_p99_latency: 250ms, max_latency_ratio: 10, "
      "on_no_data: continue}";
  std::string err;
  REQUIRE(StartWithV1(&svc, good, &err));
  const std::string log = svc.nginx().access_log_path();
  const std::string nginx = "/usr/sbin/nginx -p " + svc.nginx().prefix() +
                            " -c " + svc.nginx().nginx_conf() + " -e stderr";
  // What logrotate does with Debian's rule, as the canary's pre_traffic
  // hook: after the deploy opened the log, before any traffic moves.
  ServiceOptions bad = good;
  bad.backend_args = ", --error-rate, \"0.5\"";
  bad.hooks = "{timeout: 10s, pre_traffic: [/bin/sh, -c, \"mv " + log + " " +
              log + ".1 && : > " + log + " && chmod 0640 " + log + " && " +
              nginx + " -s reopen\"]}";
  const std::string bad_config = svc.WriteConfig("bad.yaml", bad);

  LoadGenerator load(SteadyLoad(svc.port(), 200));
  load.Start();
  CommandResult r = svc.Bgctl({"deploy", "--version", "v2"}, bad_config);
  load.Stop();
  INFO(r.out << r.err);
  // Without following the rotation the judge would see no canary request
  // (on_no_data: continue) and promote v2.
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("rolled back: analysis: ") != std::string::npos);
  struct stat rotated;
  REQUIRE(stat((log + ".1").c_str(), &rotated) == 0);
  // The canary's requests are in the new file only.
  const std::string canary = "127.0.0.1:" + std::to_string(svc.green());
  CHECK(ReadWholeFile(log).find(canary) != std::string::npos);
  CHECK(ReadWholeFile(log + ".1").find(canary) == std::string::npos);
}
