// End-to-end: the test hosts of tests/support/test_hosts.h (issue 19's
// fleet runs on them). Several real systemds at once, each reached over a
// real ssh on its own loopback address; instances they start listen on that
// address; a power cut closes a host's ports; a reboot brings its enabled
// units back. Where systemd, sshd or ssh-keygen cannot run, the tests say so
// and are skipped.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/require.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_hosts.h"

namespace bgctl::testing {
namespace {

const char kUnit[] = "bgctl-sample.service";

// The version each host's sample reports: "hN", N the last byte of its
// address.
std::string Version(const TestHost& h) {
  return "h" + h.address().substr(h.address().rfind('.') + 1);
}

// Writes the enabled unit that runs backend-sample `bin` on the host's own
// address and `port`.
void WriteSampleUnit(TestHost& h, const std::string& bin, int port) {
  REQUIRE(WriteWholeFile(h.unit_dir() + "/" + kUnit,
                         "[Unit]\nDescription=sample on " + h.address() +
                             "\n[Service]\nExecStart=" + bin + " --host " +
                             h.address() + " --port " + std::to_string(port) +
                             " --version " + Version(h) +
                             "\n[Install]\nWantedBy=bgctl-test.target\n"));
}

// `ssh -F ... root@ADDRESS command`.
CommandResult Ssh(const TestHosts& hosts, const TestHost& h,
                  const std::string& command) {
  return RunCommand(hosts.Ssh(h, command), 30000);
}

// GET / on address:port over a new connection: the version, or "".
std::string VersionAt(const std::string& address, int port) {
  httplib::Client c(address, port);
  c.set_keep_alive(false);
  c.set_connection_timeout(2);
  auto res = c.Get("/");
  return res && res->status == 200 ? VersionOf(res->body) : "";
}

TEST_CASE(
    "three test hosts run at once: over ssh each one's systemd starts a unit "
    "on the host's own address that the test reaches, in cgroups of its own",
    "[test_hosts][e2e]") {
  TestHosts hosts(3);
  BGCTL_BOOT_HOSTS_OR_SKIP(hosts);
  std::string err;
  std::string bin = hosts.Install(BACKEND_SAMPLE_BIN, &err);
  REQUIRE(bin != "");
  std::vector<int> ports;
  for (int i = 0; i < hosts.size(); ++i) {
    TestHost& h = hosts.host(i);
    INFO(h.address());
    CHECK(h.address() == "127.0.0." + std::to_string(i + 2));
    CommandResult state = Ssh(hosts, h, "systemctl is-system-running");
    INFO(state.err);
    CHECK(state.exit_code == 0);
    CHECK(state.out == "running\n");
    ports.push_back(h.PickFreePort());
    WriteSampleUnit(h, bin, ports.back());
    CommandResult start =
        Ssh(hosts, h,
            std::string("systemctl daemon-reload && systemctl enable ") +
                "--now " + kUnit);
    INFO(start.out << start.err);
    REQUIRE(start.exit_code == 0);
  }
  for (int i = 0; i < hosts.size(); ++i) {
    TestHost& h = hosts.host(i);
    INFO(h.address());
    REQUIRE(WaitForPort(h.address(), ports[i], 10000));
    CHECK(VersionAt(h.address(), ports[i]) == Version(h));
    // Only the host's own address: nothing listens on 127.0.0.1:PORT.
    CHECK_FALSE(WaitForPort("127.0.0.1", ports[i], 0));
    // Each ssh reaches its own host: the unit there names that address.
    CHECK(Ssh(hosts, h,
              std::string("systemctl show -p Description --value ") + kUnit)
              .out == "sample on " + h.address() + "\n");
    CHECK(Ssh(hosts, h, "systemd-run --unit=bgctl-sleep.service /bin/sleep 600")
              .exit_code == 0);
  }
  // A one-process unit of one name on three hosts: with shared cgroups each
  // counted all three hosts' processes (TasksCurrent=3 seen here before the
  // hosts had cgroups of their own).
  for (int i = 0; i < hosts.size(); ++i) {
    INFO(hosts.host(i).address());
    CHECK(hosts.host(i).systemd().Property("bgctl-sleep.service",
                                           "TasksCurrent") == "1");
  }
  // The machine's /tmp is untouched by three boots (PITFALLS: a systemd
  // without a private /tmp empties it).
  TempDir tmp;
  REQUIRE(WriteWholeFile(tmp.Path("marker"), "still here"));
  std::string reboot_err;
  bool rebooted = hosts.host(1).Reboot(&reboot_err);
  INFO(reboot_err);
  REQUIRE(rebooted);
  CHECK(ReadWholeFile(tmp.Path("marker")) == "still here");
}

TEST_CASE(
    "a power cut of one test host closes its ports while the others keep "
    "serving, and a reboot brings its enabled unit back",
    "[test_hosts][e2e]") {
  TestHosts hosts(2);
  BGCTL_BOOT_HOSTS_OR_SKIP(hosts);
  std::string err;
  std::string bin = hosts.Install(BACKEND_SAMPLE_BIN, &err);
  REQUIRE(bin != "");
  TestHost& cut = hosts.host(0);
  TestHost& other = hosts.host(1);
  int cut_port = cut.PickFreePort(), other_port = other.PickFreePort();
  WriteSampleUnit(cut, bin, cut_port);
  WriteSampleUnit(other, bin, other_port);
  for (TestHost* h : {&cut, &other}) {
    REQUIRE(Ssh(hosts, *h, std::string("systemctl enable --now ") + kUnit)
                .exit_code == 0);
  }
  REQUIRE(WaitForPort(cut.address(), cut_port, 10000));
  REQUIRE(WaitForPort(other.address(), other_port, 10000));

  cut.PowerCut();
  CHECK_FALSE(cut.up());
  CHECK_FALSE(WaitForPort(cut.address(), cut_port, 0));
  CHECK_FALSE(WaitForPort(cut.address(), cut.ssh_port(), 0));
  CommandResult refused = Ssh(hosts, cut, "true");
  CHECK(refused.exit_code == 255);
  CHECK_THAT(refused.err, Catch::Contains("Connection refused"));
  CHECK(VersionAt(other.address(), other_port) == Version(other));
  CHECK(Ssh(hosts, other, "systemctl is-active " + std::string(kUnit)).out ==
        "active\n");

  std::string reboot_err;
  bool rebooted = cut.Reboot(&reboot_err);
  INFO(reboot_err);
  REQUIRE(rebooted);
  REQUIRE(WaitForPort(cut.address(), cut_port, 10000));
  CHECK(VersionAt(cut.address(), cut_port) == Version(cut));
  CHECK(Ssh(hosts, cut, "systemctl is-enabled " + std::string(kUnit)).out ==
        "enabled\n");
}

}  // namespace
}  // namespace bgctl::testing
