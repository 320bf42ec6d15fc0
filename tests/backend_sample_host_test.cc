// backend-sample's --host: the address it listens on, one of 127.0.0.0/8
// (the test hosts of tests/support/test_hosts.h each have their own).
#include <httplib.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {
namespace {

TEST_CASE(
    "backend-sample --host 127.0.0.3 answers on that address and not on "
    "127.0.0.1",
    "[backend_sample]") {
  TempDir dir;
  REQUIRE(dir.ok());
  int port = PickFreePort("127.0.0.3");
  REQUIRE(port > 0);
  ChildProcess proc;
  ChildOptions options;
  options.stderr_path = dir.Path("backend.log");
  std::string err;
  REQUIRE(proc.Start({BACKEND_SAMPLE_BIN, "--host", "127.0.0.3", "--port",
                      std::to_string(port), "--version", "v7"},
                     options, &err));
  REQUIRE(WaitForFileContains(options.stderr_path,
                              "backend-sample: listening on 127.0.0.3:" +
                                  std::to_string(port) + " version v7",
                              5000));
  httplib::Client there("127.0.0.3", port);
  there.set_connection_timeout(3, 0);
  auto res = there.Get("/");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body)["version"] == "v7");
  CHECK_FALSE(WaitForPort("127.0.0.1", port, 0));
}

TEST_CASE(
    "backend-sample refuses a --host outside 127.0.0.0/8 or not an IPv4 "
    "address, naming the flag",
    "[backend_sample]") {
  for (const std::string host :
       {"10.0.0.1", "0.0.0.0", "192.168.1.2", "localhost", "127.0.0",
        "127.0.0.1 ", "::1", ""}) {
    CommandResult r = RunCommand({BACKEND_SAMPLE_BIN, "--host", host, "--port",
                                  "8081", "--version", "v1"},
                                 5000);
    INFO(host);
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          "backend-sample: --host: expected an IPv4 address in 127.0.0.0/8, "
          "got \"" +
              host + "\"\nRun with --help for usage.\n");
  }
}

TEST_CASE("the test ports helpers refuse any address outside 127.0.0.0/8",
          "[test_support]") {
  CHECK(PickFreePort("10.0.0.1") == -1);
  CHECK(PickFreePort("0.0.0.0") == -1);
  CHECK(PickFreePort("localhost") == -1);
  CHECK_FALSE(WaitForPort("192.168.0.1", 80, 0));
  int port = PickFreePort("127.0.0.2");
  CHECK(port > 0);
  CHECK_FALSE(WaitForPort("127.0.0.2", port, 0));  // nothing listens there
}

}  // namespace
}  // namespace bgctl::testing
