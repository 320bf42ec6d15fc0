// Benchmark: what one reused SSH connection saves. N commands to one test
// host over bgctl's SshClient (ControlMaster=auto: the first command opens
// the master, the others reuse it, CloseAll ends it; all of it timed)
// against the same N commands each on a fresh connection (ControlMaster=no),
// in the same run, alternating round by round.
//
//   build/bench/ssh_master [--commands 20] [--rounds 5]
//
// The host is a test host (tests/support/test_hosts.h): a real systemd and
// sshd on 127.0.0.2, so it needs what they need (root, systemd, sshd). The
// command is `true`: what is measured is ssh, not the work.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "controller/env.h"
#include "controller/process.h"
#include "controller/ssh.h"
#include "tests/support/test_hosts.h"

namespace bgctl::bench {
namespace {

using testing::TestHosts;

// N commands on fresh connections: total ms, or -1 if one failed.
double Fresh(const TestHosts& hosts, const std::string& dest, int n) {
  double start = NowMsExact();
  for (int i = 0; i < n; ++i) {
    RunResult out;
    std::string err;
    if (!RealProcessRunner()->Run(
            {"ssh", "-F", hosts.ssh_config(), "-o", "ControlMaster=no", "-o",
             "ControlPath=none", "-o", "LogLevel=ERROR", "-T", "--", dest,
             "true"},
            "", 20000, &out, &err) ||
        out.exit_code != 0) {
      fprintf(stderr, "fresh ssh failed: %s%s\n", err.c_str(),
              out.output.c_str());
      return -1;
    }
  }
  return NowMsExact() - start;
}

// N commands over one master (opened by the first, closed at the end).
double Master(SshClient* ssh, const SshDestination& dest, int n) {
  double start = NowMsExact();
  for (int i = 0; i < n; ++i) {
    RunResult out;
    std::string err;
    if (ssh->Run(dest, {"true"}, 20000, &out, &err) != SshStatus::kOk) {
      fprintf(stderr, "ssh over the master failed: %s\n", err.c_str());
      return -1;
    }
  }
  ssh->CloseAll();
  return NowMsExact() - start;
}

int Main(int commands, int rounds) {
  TestHosts hosts(1);
  std::string err;
  std::string why = hosts.CannotRun();
  if (!why.empty()) {
    fprintf(stderr, "ssh_master: cannot run here: %s\n", why.c_str());
    return 1;
  }
  if (!hosts.Boot(&err)) {
    fprintf(stderr, "ssh_master: %s\n", err.c_str());
    return 1;
  }
  SshOptions options;
  options.config_file = hosts.ssh_config();
  options.control_dir = hosts.dir() + "/cm";
  SshClient ssh(RealProcessRunner(), RealFileSystem(), options);
  SshDestination dest;
  if (!ParseSshDestination(hosts.host(0).destination(), &dest, &err)) return 1;
  std::vector<double> fresh, master;
  for (int r = 0; r < rounds; ++r) {
    double f = Fresh(hosts, dest.text, commands);
    double m = Master(&ssh, dest, commands);
    if (f < 0 || m < 0) return 1;
    fresh.push_back(f);
    master.push_back(m);
    printf(
        "round %d: %d commands: fresh connections %.0f ms, one master "
        "%.0f ms\n",
        r + 1, commands, f, m);
  }
  double f = Percentile(fresh, 0.5), m = Percentile(master, 0.5);
  printf("median of %d rounds, %d commands each (to %s):\n", rounds, commands,
         dest.text.c_str());
  printf("  fresh connections  %7.0f ms  (%.1f ms per command)\n", f,
         f / commands);
  printf(
      "  one master         %7.0f ms  (%.1f ms per command, CloseAll "
      "included)\n",
      m, m / commands);
  printf("  ratio fresh / master: %.2f\n", f / m);
  return 0;
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  CLI::App app{"N commands over one SSH master against N fresh connections"};
  int commands = 20, rounds = 5;
  app.add_option("--commands", commands, "commands per batch")
      ->check(CLI::Range(1, 1000));
  app.add_option("--rounds", rounds, "batches of each kind, alternating")
      ->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  return bgctl::bench::Main(commands, rounds);
}
