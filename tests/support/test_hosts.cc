#include "tests/support/test_hosts.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {

namespace {

const char kSshd[] = "/usr/sbin/sshd";
const char kSsh[] = "/usr/bin/ssh";
const char kSshKeygen[] = "/usr/bin/ssh-keygen";
const char kSshdUnit[] = "bgctl-sshd.service";
const char kTarget[] = "bgctl-test.target";
constexpr int kMaxHosts = 20;

// ssh-keygen -t ed25519 with no passphrase into `path` (and path.pub).
bool MakeKey(const std::string& path, const std::string& comment,
             std::string* err) {
  CommandResult r = RunCommand(
      {kSshKeygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path},
      20000);
  if (r.exit_code == 0) return true;
  *err = "ssh-keygen " + path + ": " + r.out + r.err;
  return false;
}

// The first two fields of a public key file: "ssh-ed25519 AAAA...".
std::string KeyOf(const std::string& pub) {
  std::string text = ReadWholeFile(pub);
  size_t first = text.find(' ');
  size_t second =
      first == std::string::npos ? first : text.find(' ', first + 1);
  return text.substr(0, second);
}

std::string SshdConfig(const TestHost& h) {
  return "# sshd of test host " + h.address() +
         " (tests/support/test_hosts.cc)\n"
         "ListenAddress " +
         h.address() + ":" + std::to_string(h.ssh_port()) +
         "\n"
         "HostKey " +
         h.dir() +
         "/ssh_host_ed25519_key\n"
         "AuthorizedKeysFile " +
         h.dir() +
         "/authorized_keys\n"
         "PidFile /run/sshd-bgctl-test.pid\n"
         "UsePAM no\n"
         "PermitRootLogin prohibit-password\n"
         "PubkeyAuthentication yes\n"
         "PasswordAuthentication no\n"
         "KbdInteractiveAuthentication no\n"
         "StrictModes yes\n"
         "PrintMotd no\n"
         "PrintLastLog no\n"
         "X11Forwarding no\n"
         "AllowTcpForwarding no\n"
         "AllowAgentForwarding no\n"
         "PermitTunnel no\n"
         "LogLevel VERBOSE\n";
}

std::string SshdUnit(const TestHost& h) {
  return "[Unit]\n"
         "Description=sshd of test host " +
         h.address() +
         " (bgctl tests)\n"
         "[Service]\n"
         "Type=exec\n"
         "RuntimeDirectory=sshd\n"
         "ExecStart=" +
         kSshd + " -D -f " + h.dir() + "/sshd_config -E " + h.sshd_log() +
         "\n"
         "[Install]\n"
         "WantedBy=" +
         kTarget + "\n";
}

}  // namespace

TestHost::TestHost(int index, const std::string& dir, int ssh_port)
    : address_("127.0.0." + std::to_string(index + 2)),
      dir_(dir),
      ssh_port_(ssh_port),
      systemd_(dir, SystemdFixture::Turn::kHeldByOwner) {}

std::string TestHost::url() const {
  return "ssh://root@" + address_ + ":" + std::to_string(ssh_port_);
}

int TestHost::PickFreePort() const { return testing::PickFreePort(address_); }

bool TestHost::Start(std::string* err) { return systemd_.Start(err); }

bool TestHost::WaitUp(std::string* err) {
  if (!systemd_.WaitUp(err)) return false;
  if (WaitForPort(address_, ssh_port_, 10000)) return true;
  *err = "sshd of " + address_ + " does not answer on port " +
         std::to_string(ssh_port_) +
         "; sshd log: " + ReadWholeFile(sshd_log()) + "; unit: " +
         systemd_.Run({"systemctl", "status", "--no-pager", kSshdUnit}).out;
  return false;
}

bool TestHost::Reboot(std::string* err) {
  PowerCut();
  return Start(err) && WaitUp(err);
}

TestHosts::TestHosts(int count) : count_(count) {}

TestHosts::~TestHosts() {
  for (auto& h : hosts_) h->PowerCut();
  hosts_.clear();
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TestHosts::CannotRun() const {
  if (count_ < 1 || count_ > kMaxHosts)
    return "TestHosts takes 1 to 20 hosts, not " + std::to_string(count_);
  std::string root_err;
  std::string root = SystemdTestsRoot(&root_err);
  if (root.empty()) return root_err;
  std::string why = SystemdFixture::CannotRunHere();
  if (!why.empty()) return why;
  for (const char* tool : {kSshd, kSsh, kSshKeygen})
    if (access(tool, X_OK) != 0)
      return std::string("no ") + tool + " (openssh-server, openssh-client)";
  return "";
}

bool TestHosts::WriteClientConfig(std::string* err) {
  std::string known, config;
  for (const auto& h : hosts_) {
    known += "[" + h->address() + "]:" + std::to_string(h->ssh_port()) + " " +
             KeyOf(h->dir() + "/ssh_host_ed25519_key.pub") + "\n";
    config += "Host " + h->address() + "\n  Port " +
              std::to_string(h->ssh_port()) + "\n";
  }
  config += "Host *\n  User root\n  IdentityFile " + identity() +
            "\n  IdentitiesOnly yes\n  IdentityAgent none\n"
            "  UserKnownHostsFile " +
            known_hosts() +
            "\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n";
  if (!WriteWholeFile(known_hosts(), known) ||
      !WriteWholeFile(ssh_config(), config)) {
    *err = "cannot write the ssh client files in " + dir_;
    return false;
  }
  return true;
}

bool TestHosts::MakeHostFiles(TestHost& h, std::string* err) {
  std::error_code ec;
  std::filesystem::create_directories(h.unit_dir() + "/" + kTarget + ".wants",
                                      ec);
  if (!MakeKey(h.dir() + "/ssh_host_ed25519_key", "bgctl-test-" + h.address(),
               err))
    return false;
  std::string unit = h.unit_dir() + "/" + kSshdUnit;
  std::string wants = h.unit_dir() + "/" + kTarget + ".wants/" + kSshdUnit;
  if (!WriteWholeFile(h.dir() + "/authorized_keys",
                      ReadWholeFile(identity() + ".pub")) ||
      !WriteWholeFile(h.dir() + "/sshd_config", SshdConfig(h)) ||
      !WriteWholeFile(unit, SshdUnit(h)) ||
      symlink((std::string("../") + kSshdUnit).c_str(), wants.c_str()) != 0) {
    *err = "cannot write the sshd files in " + h.dir();
    return false;
  }
  return true;
}

bool TestHosts::Boot(std::string* err) {
  std::string why = CannotRun();
  if (!why.empty()) {
    *err = why;
    return false;
  }
  if (!hosts_.empty()) {
    *err = "the test hosts are booted already";
    return false;
  }
  if (!turn_.Take(err)) return false;
  std::string root = SystemdTestsRoot(err);
  if (root.empty()) return false;
  std::string tmpl = root + "/hosts-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    *err = "cannot make a folder " + tmpl + ": " + std::strerror(errno);
    return false;
  }
  dir_ = tmpl;
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/client", ec);
  std::filesystem::create_directories(dir_ + "/bin", ec);
  if (!MakeKey(identity(), "bgctl-test-client", err)) return false;
  for (int i = 0; i < count_; ++i) {
    std::string address = "127.0.0." + std::to_string(i + 2);
    std::string host_dir = dir_ + "/h" + std::to_string(i + 2);
    hosts_.push_back(std::make_unique<TestHost>(
        i, host_dir, testing::PickFreePort(address)));
    if (hosts_.back()->ssh_port() <= 0) {
      *err = "no free port on " + address;
      return false;
    }
    if (!MakeHostFiles(*hosts_.back(), err)) return false;
  }
  if (!WriteClientConfig(err)) return false;
  for (auto& h : hosts_)
    if (!h->Start(err)) return false;
  for (auto& h : hosts_)
    if (!h->WaitUp(err)) {
      *err = h->address() + ": " + *err;
      return false;
    }
  return true;
}

std::string TestHosts::Install(const std::string& file,
                               std::string* err) const {
  namespace fs = std::filesystem;
  std::string to = dir_ + "/bin/" + fs::path(file).filename().string();
  std::error_code ec;
  fs::copy_file(file, to, fs::copy_options::overwrite_existing, ec);
  if (ec || chmod(to.c_str(), 0755) != 0) {
    *err = "cannot copy " + file + " to " + to + ": " +
           (ec ? ec.message() : std::strerror(errno));
    return "";
  }
  return to;
}

std::vector<std::string> TestHosts::Ssh(const TestHost& host,
                                        const std::string& command) const {
  return {kSsh, "-F", ssh_config(), host.destination(), command};
}

}  // namespace bgctl::testing
