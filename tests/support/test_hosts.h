// Test "hosts" on this one machine (issue 19): N systemds, each PID 1 of its
// own namespaces and cgroups (SystemdFixture), each running a real OpenSSH
// sshd on its own loopback address and a port picked free at run time:
//
//   host 0: 127.0.0.2:P0    host 1: 127.0.0.3:P1    ...   (never another
//   address: nothing leaves 127.0.0.0/8)
//
// The network namespace is shared, so an instance that a host's systemd
// starts on ADDRESS:PORT is reachable from the test, and the test reaches
// each sshd. The fixture generates a client key and a host key per host
// (ssh-keygen) and writes an ssh_config that names them:
//
//   ssh -F hosts.ssh_config() root@127.0.0.2 systemctl is-system-running
//
// Files live in a folder of their own below SystemdTestsRoot() (never under
// /tmp: each booted systemd has a private /tmp, and a clone under /tmp must
// work):
//   client/id_ed25519[.pub], client/known_hosts, client/ssh_config
//   bin/             what Install() copied (visible on every host)
//   hN/              host 127.0.0.N: units/ (its /etc/systemd/system),
//                    sshd_config, ssh_host_ed25519_key, authorized_keys,
//                    sshd.log (sshd -E: one "Connection from" line per TCP
//                    connection), boot.log
// sshd runs as the unit bgctl-sshd.service, enabled (WantedBy the test
// target), so a reboot starts it again.
//
// A power cut (PowerCut) SIGKILLs the host's PID 1: every process of the host
// ends at once and its ports close. Reboot boots a new systemd on the same
// files: enabled units start again. The destructor cuts every host's power and
// removes the folder, also when an assertion failed. All hosts of one
// TestHosts share one machine-wide SystemdTurn.
#ifndef BGCTL_TESTS_SUPPORT_TEST_HOSTS_H_
#define BGCTL_TESTS_SUPPORT_TEST_HOSTS_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/support/systemd_fixture.h"

namespace bgctl::testing {

class TestHost {
 public:
  // Host `index` (0-based) of a TestHosts in `dir`; ssh on `ssh_port`.
  TestHost(int index, const std::string& dir, int ssh_port);

  // 127.0.0.(index + 2).
  const std::string& address() const { return address_; }
  int ssh_port() const { return ssh_port_; }
  // "root@ADDRESS": with the TestHosts' ssh_config, ssh reaches this sshd.
  std::string destination() const { return "root@" + address_; }
  // "ssh://root@ADDRESS:PORT": the same without the config's Port line.
  std::string url() const;
  // Its folder (see above); sshd_log() is sshd's own log.
  const std::string& dir() const { return dir_; }
  std::string sshd_log() const { return dir_ + "/sshd.log"; }
  // The units folder, /etc/systemd/system inside.
  std::string unit_dir() const { return systemd_.unit_dir(); }
  SystemdFixture& systemd() { return systemd_; }
  bool up() const { return systemd_.booted(); }

  // A TCP port free on address() a moment ago, or -1.
  int PickFreePort() const;
  // Starts this host's systemd (see SystemdFixture::Start).
  bool Start(std::string* err);
  // Waits until systemd is up and sshd answers on address():ssh_port().
  bool WaitUp(std::string* err);
  // SIGKILL to the host's PID 1; returns once every process of it is gone.
  void PowerCut() { systemd_.Kill(); }
  // PowerCut() (if up), then boots on the same files and waits for sshd.
  bool Reboot(std::string* err);

 private:
  std::string address_;
  std::string dir_;
  int ssh_port_;
  SystemdFixture systemd_;
};

class TestHosts {
 public:
  // `count` hosts (1 to 20): 127.0.0.2 to 127.0.0.(count + 1). Nothing runs
  // before Boot().
  explicit TestHosts(int count);
  ~TestHosts();
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  // Why the hosts cannot run here, or "": SystemdFixture::CannotRun(), no
  // /usr/sbin/sshd, ssh or ssh-keygen, or no SystemdTestsRoot().
  std::string CannotRun() const;
  // Takes the machine's systemd turn, makes the folder, keys and configs,
  // boots every host in parallel and waits until each sshd answers. False
  // with *err (a host's boot log, sshd log and unit status) otherwise.
  bool Boot(std::string* err);

  int size() const { return static_cast<int>(hosts_.size()); }
  TestHost& host(int i) { return *hosts_.at(i); }
  const std::string& dir() const { return dir_; }
  // For `ssh -F`: Port per host, User root, IdentityFile, IdentitiesOnly,
  // IdentityAgent none, UserKnownHostsFile, StrictHostKeyChecking yes,
  // BatchMode yes.
  std::string ssh_config() const { return dir_ + "/client/ssh_config"; }
  std::string known_hosts() const { return dir_ + "/client/known_hosts"; }
  std::string identity() const { return dir_ + "/client/id_ed25519"; }

  // Copies `file` into dir()/bin (mode 0755), where every host sees it (a
  // build folder under /tmp is not seen inside): the copy's path, or "" with
  // *err.
  std::string Install(const std::string& file, std::string* err) const;
  // argv of `ssh -F ssh_config() DESTINATION COMMAND`: a plain client for
  // tests (controller/ssh is bgctl's own).
  std::vector<std::string> Ssh(const TestHost& host,
                               const std::string& command) const;

 private:
  // known_hosts and ssh_config, once every host has its key and port.
  bool WriteClientConfig(std::string* err);
  // The host's key, authorized_keys, sshd_config and enabled sshd unit.
  bool MakeHostFiles(TestHost& host, std::string* err);

  int count_;
  std::string dir_;
  SystemdTurn turn_;
  std::vector<std::unique_ptr<TestHost>> hosts_;
};

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_TEST_HOSTS_H_
