// End-to-end: bgctl's SSH transport (controller/ssh.h) against a real sshd
// on a test host (tests/support/test_hosts.h): systemctl over ssh, an atomic
// write of a unit file that the host's systemd then runs, one connection
// for many commands, and clear errors for a changed host key, a refused key
// and a closed port. Skipped where the test hosts cannot run.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <regex>

#include "controller/env.h"
#include "controller/process.h"
#include "controller/ssh.h"
#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/require.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_hosts.h"

namespace bgctl::testing {
namespace {

SshDestination Dest(const std::string& text) {
  SshDestination d;
  std::string err;
  bool parsed = ParseSshDestination(text, &d, &err);
  INFO(err);
  REQUIRE(parsed);
  return d;
}

SshOptions Options(const TestHosts& hosts, const std::string& config) {
  SshOptions o;
  o.config_file = config;
  o.control_dir = hosts.dir() + "/cm";
  o.connect_timeout_ms = 5000;
  return o;
}

// How many times sshd let a client in (one per TCP connection that
// authenticated).
int Logins(const TestHost& h) {
  std::string log = ReadWholeFile(h.sshd_log());
  int n = 0;
  for (size_t at = 0;
       (at = log.find("Accepted publickey", at)) != std::string::npos; ++at)
    ++n;
  return n;
}

TEST_CASE(
    "over a real ssh to a test host, systemctl answers, a unit file written "
    "atomically runs, and every command shares one connection that CloseAll "
    "ends",
    "[ssh][test_hosts][e2e]") {
  TestHosts hosts(1);
  BGCTL_BOOT_HOSTS_OR_SKIP(hosts);
  TestHost& h = hosts.host(0);
  SshClient ssh(RealProcessRunner(), RealFileSystem(),
                Options(hosts, hosts.ssh_config()));
  SshDestination host = Dest(h.destination());
  RunResult out;
  std::string err;
  REQUIRE(Logins(h) == 0);
  CHECK(ssh.Run(host, {"systemctl", "is-system-running"}, 20000, &out, &err) ==
        SshStatus::kOk);
  CHECK(out.output == "running\n");

  // A unit file through ssh's stdin, into the host's /etc/systemd/system.
  const std::string unit =
      "[Unit]\nDescription=written over ssh: a'b $(x) ;\n"
      "[Service]\nExecStart=/bin/sleep 600\n";
  REQUIRE(ssh.WriteFile(host, "/etc/systemd/system/bgctl-ssh-e2e.service", unit,
                        0644, 20000, &err) == SshStatus::kOk);
  std::string outside = h.unit_dir() + "/bgctl-ssh-e2e.service";
  CHECK(ReadWholeFile(outside) == unit);
  struct stat st;
  REQUIRE(stat(outside.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  RunResult listing;
  REQUIRE(RealProcessRunner()->Run({"ls", "-A", h.unit_dir()}, "", 5000,
                                   &listing, &err));
  CHECK(listing.output.find(".tmp.") == std::string::npos);  // none left
  CHECK(ssh.Run(host, {"systemctl", "daemon-reload"}, 20000, &out, &err) ==
        SshStatus::kOk);
  CHECK(ssh.Run(host, {"systemctl", "start", "bgctl-ssh-e2e.service"}, 20000,
                &out, &err) == SshStatus::kOk);
  CHECK(ssh.Run(host,
                {"systemctl", "show", "-p", "Description", "--value",
                 "bgctl-ssh-e2e.service"},
                20000, &out, &err) == SshStatus::kOk);
  CHECK(out.output == "written over ssh: a'b $(x) ;\n");
  // A remote failure is the command's, named with the host.
  CHECK(ssh.Run(host, {"systemctl", "is-active", "bgctl-no-such.service"},
                20000, &out, &err) == SshStatus::kRemoteFailed);
  CHECK(out.exit_code == 3);
  CHECK(err ==
        "`systemctl is-active bgctl-no-such.service` on root@127.0.0.2 "
        "exited 3: inactive");

  // Seven commands and one write: one login, one master.
  CHECK(Logins(h) == 1);
  CHECK(ssh.MasterRunning(host));
  ssh.CloseAll();
  CHECK(WaitFor([&] { return !ssh.MasterRunning(host); }, 5000));
  // A later command opens a new connection.
  CHECK(ssh.Run(host, {"true"}, 20000, &out, &err) == SshStatus::kOk);
  CHECK(Logins(h) == 2);
  ssh.CloseAll();
}

TEST_CASE(
    "ssh to a test host whose key changed or that refuses bgctl's key is "
    "refused, and a closed port or a power cut is a clear error naming the "
    "host",
    "[ssh][test_hosts][e2e]") {
  TestHosts hosts(1);
  BGCTL_BOOT_HOSTS_OR_SKIP(hosts);
  TestHost& h = hosts.host(0);
  std::string config = ReadWholeFile(hosts.ssh_config());
  RunResult out;
  std::string err;

  // Another key in known_hosts for [127.0.0.2]:PORT: the host key changed.
  std::string other_key = hosts.dir() + "/other_key";
  REQUIRE(RunCommand(
              {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key},
              20000)
              .exit_code == 0);
  std::string pub = ReadWholeFile(other_key + ".pub");
  std::string changed = hosts.known_hosts() + "_changed";
  REQUIRE(WriteWholeFile(
      changed, "[" + h.address() + "]:" + std::to_string(h.ssh_port()) + " " +
                   pub.substr(0, pub.rfind(' ')) + "\n"));
  std::string changed_config = hosts.dir() + "/ssh_config_changed";
  REQUIRE(WriteWholeFile(changed_config,
                         std::regex_replace(config, std::regex("known_hosts"),
                                            "known_hosts_changed")));
  SshClient mismatch(RealProcessRunner(), RealFileSystem(),
                     Options(hosts, changed_config));
  CHECK(mismatch.Run(Dest(h.destination()), {"touch", "/run/ran"}, 20000, &out,
                     &err) == SshStatus::kHostKey);
  CHECK(err ==
        "ssh to root@127.0.0.2: host key refused (unknown or changed; strict "
        "checking): Host key verification failed.");
  CHECK(Logins(h) == 0);

  // A client key the host does not know: authentication refused.
  std::string stranger_config = hosts.dir() + "/ssh_config_stranger";
  REQUIRE(
      WriteWholeFile(stranger_config,
                     std::regex_replace(config, std::regex("client/id_ed25519"),
                                        "other_key")));
  SshClient stranger(RealProcessRunner(), RealFileSystem(),
                     Options(hosts, stranger_config));
  CHECK(stranger.Run(Dest(h.destination()), {"true"}, 20000, &out, &err) ==
        SshStatus::kAuth);
  CHECK(err ==
        "ssh to root@127.0.0.2: authentication refused: root@127.0.0.2: "
        "Permission denied (publickey).");

  // A port where nothing listens (ssh:// names it over the config's Port).
  SshClient ssh(RealProcessRunner(), RealFileSystem(),
                Options(hosts, hosts.ssh_config()));
  int closed = h.PickFreePort();
  std::string url = "ssh://root@127.0.0.2:" + std::to_string(closed);
  CHECK(ssh.Run(Dest(url), {"true"}, 20000, &out, &err) == SshStatus::kConnect);
  CHECK(err == "ssh to " + url +
                   ": cannot connect: ssh: connect to host 127.0.0.2 port " +
                   std::to_string(closed) + ": Connection refused");

  // The host itself, then a power cut: the master dies with it.
  CHECK(ssh.Run(Dest(h.url()), {"true"}, 20000, &out, &err) == SshStatus::kOk);
  h.PowerCut();
  SshStatus after = ssh.Run(Dest(h.url()), {"true"}, 20000, &out, &err);
  CHECK(after == SshStatus::kConnect);
  CHECK_THAT(err, Catch::StartsWith("ssh to " + h.url() + ": cannot connect"));
  ssh.CloseAll();
}

}  // namespace
}  // namespace bgctl::testing
