// End-to-end: nginx itself dies in the middle of a deploy (its master and
// workers SIGKILLed while the canary holds its first step). The switch to the
// next step cannot be confirmed, so the state must say the split is unknown,
// `status` must show what the upstream file holds, nothing may stop the
// canary while it might be serving, and once nginx is back the next command
// puts the file, nginx and the state in agreement. Real nginx, real
// backend-sample processes, the real bgctl binary.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/e2e.h"
#include "tests/support/require.h"
#include "tests/support/service.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// The versions of `n` requests through nginx, each over a new connection.
std::map<std::string, int> Versions(Service& svc, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) seen[VersionOf(svc.Get("/"))]++;
  return seen;
}

TEST_CASE(
    "nginx killed at a deploy's 10% step leaves the split unknown with the "
    "canary running, status shows the upstream file, and abort after nginx "
    "restarts sends every request to stable",
    "[operations_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 10, pause: 2s}, {weight: 50, pause: 2s}, {weight: 100}]";
  Service svc;
  std::string err;
  RequireStartWithV1(&svc, o);
  ChildProcess deploy;
  std::string log = svc.dir() + "/deploy.log";
  REQUIRE(svc.StartBgctl({"deploy", "--version", "v2"}, &deploy, log));
  REQUIRE(WaitFor(
      [&] {
        return ReadWholeFile(log).find("weight 10%") != std::string::npos;
      },
      15000));
  svc.nginx().Kill();

  // The 50% switch and the rollback's switch to 0% both go unconfirmed.
  int wait_status = 0;
  REQUIRE(deploy.WaitExit(40000, &wait_status));
  INFO(ReadWholeFile(log));
  CHECK(ExitCode(wait_status) == 1);
  json st = Status(svc);
  INFO(st.dump(2));
  REQUIRE(st.is_object());
  CHECK(st["traffic"]["known"] == false);
  REQUIRE(st["traffic"]["file"].is_object());
  CHECK(st["traffic"]["file"]["generation"] == st["generation"]);
  // The canary may be in nginx's file, so it is still running.
  REQUIRE(st["canary"].is_object());
  CHECK(st["canary"]["version"] == "v2");
  int canary_port = st["canary"]["port"].get<int>();
  CHECK(svc.BackendPids(canary_port).size() == 1);
  CommandResult text = svc.Bgctl({"status"});
  CHECK(text.out.find("unknown") != std::string::npos);

  // nginx comes back with whatever the file holds; abort reconciles.
  REQUIRE(svc.nginx().Restart(&err));
  CommandResult r = svc.Bgctl({"abort"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  st = Status(svc);
  INFO(st.dump(2));
  CHECK(st["traffic"]["known"] == true);
  CHECK(st["canary"].is_null());
  CHECK(svc.Get("/__bgctl/generation") ==
        std::to_string(st["generation"].get<uint64_t>()));
  CHECK(Versions(svc, 20) == std::map<std::string, int>{{"v1", 20}});
  CHECK(WaitFor([&] { return svc.BackendPids(canary_port).empty(); }, 15000));

  // And the next deploy works as usual.
  r = svc.Bgctl({"deploy", "--version", "v3", "--steps", "100"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(VersionOf(svc.Get("/")) == "v3");
}

}  // namespace
