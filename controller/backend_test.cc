// StartBackend and StopBackend: with real processes (sh -c as the child
// program, to build backends that drain or ignore signals), and with fakes
// for the exact timing of the stop sequence.
#include "controller/backend.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <vector>

#include "controller/process.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

// SIGKILLs the process group if the process still runs (start time checked).
class ProcessGuard {
 public:
  explicit ProcessGuard(const ProcessId& id) : id_(id) {}
  ~ProcessGuard() {
    uint64_t now = 0;
    if (id_.pid <= 1 || !ReadStartTime(id_.pid, &now) ||
        now != id_.start_time) {
      return;
    }
    kill(-id_.pid, SIGKILL);
    waitpid(id_.pid, nullptr, 0);
  }

 private:
  ProcessId id_;
};

// The real clock, but a fixed wall time so the log banner is known.
class FixedWallClock : public Clock {
 public:
  int64_t NowMs() override { return RealClock()->NowMs(); }
  int64_t WallMs() override { return 1700000000000; }  // 2023-11-14T22:13:20Z
  void SleepMs(int64_t ms) override { RealClock()->SleepMs(ms); }
};

Env RealEnvWithFixedWall(FixedWallClock* clock) {
  Env env = RealEnv();
  env.clock = clock;
  return env;
}

Config TestConfig(const std::string& dir) {
  Config cfg;
  cfg.dir = dir;
  cfg.service = "demo";
  cfg.state_dir = dir + "/state";
  cfg.blue_port = 18081;
  cfg.green_port = 18082;
  cfg.backend.workdir = dir;
  cfg.backend.env = {{"APP_ENV", "production"}};
  return cfg;
}

DrainConfig Drain(int sig, int64_t timeout_ms) {
  DrainConfig drain;
  drain.signal = sig;
  drain.timeout_ms = timeout_ms;
  return drain;
}

TEST_CASE(
    "a backend starts with its placeholders, environment and working folder "
    "and logs to state_dir/logs/<slot>.log",
    "[backend]") {
  testing::TempDir dir;
  FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "echo slot={slot} version={version} port={port} {other}; "
      "echo env=$BGCTL_SLOT/$BGCTL_VERSION/$BGCTL_PORT/$APP_ENV; pwd; "
      "exec sleep 30"};
  StartedBackend started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "green", "v2", &started, &err));
  ProcessGuard guard(started.process);
  CHECK(started.log_path == dir.path() + "/state/logs/green.log");
  CHECK(getsid(started.process.pid) == started.process.pid);
  REQUIRE(
      testing::WaitForFileContains(started.log_path, dir.path() + "\n", 5000));
  CHECK(testing::ReadWholeFile(started.log_path) ==
        "bgctl: starting version v2 in slot green on port 18082 at "
        "2023-11-14T22:13:20Z\n"
        "slot=green version=v2 port=18082 {other}\n"
        "env=green/v2/18082/production\n" +
            dir.path() + "\n");
  CHECK(env.processes->IsAlive(started.process));
  int64_t elapsed = 0;
  CHECK(StopBackend(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
}

TEST_CASE(
    "starting a backend in an unknown slot or from a missing program fails",
    "[backend]") {
  testing::TempDir dir;
  FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {"bin/backend-{version}", "--port", "{port}"};
  StartedBackend started;
  std::string err;
  CHECK_FALSE(StartBackend(env, cfg, "red", "v1", &started, &err));
  CHECK(err == "unknown slot \"red\"");
  CHECK_FALSE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  CHECK(err == "cannot start \"bin/backend-v1\": No such file or directory");
  CHECK(started.process.pid == 0);
}

TEST_CASE("a backend that exits on the drain signal stops as exited quickly",
          "[backend]") {
  testing::TempDir dir;
  FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {"/bin/sh", "-c",
                         "trap 'echo draining; exit 0' TERM; echo ready; "
                         "while :; do sleep 0.05; done"};
  StartedBackend started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  CHECK(StopBackend(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
  CHECK(elapsed >= 0);
  CHECK(elapsed < 1000);
  CHECK(err.empty());
  CHECK(testing::ReadWholeFile(started.log_path).find("draining\n") !=
        std::string::npos);
  CHECK_FALSE(env.processes->IsAlive(started.process));
  // Again, now that it is gone.
  CHECK(StopBackend(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kNotRunning);
  CHECK(elapsed == 0);
  CHECK(err.empty());
}

TEST_CASE("the configured drain signal is the one sent", "[backend]") {
  testing::TempDir dir;
  FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "trap '' TERM; trap 'echo got-usr1; exit 0' USR1; echo ready; "
      "while :; do sleep 0.05; done"};
  StartedBackend started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  CHECK(StopBackend(env, Drain(SIGUSR1, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
  CHECK(elapsed < 1000);
  CHECK(testing::ReadWholeFile(started.log_path).find("got-usr1\n") !=
        std::string::npos);
}

TEST_CASE("a backend that ignores the drain signal is killed after the timeout",
          "[backend]") {
  testing::TempDir dir;
  FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "trap '' TERM; echo ready; while :; do sleep 0.05; done"};
  StartedBackend started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "green", "v3", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  CHECK(StopBackend(env, Drain(SIGTERM, 300), started.process, &elapsed,
                    &err) == StopOutcome::kKilled);
  CHECK(elapsed >= 300);
  CHECK(elapsed < 1300);
  CHECK(err.empty());
  CHECK_FALSE(env.processes->IsAlive(started.process));
}

// Fakes for the exact stop sequence.
class FakeClock : public Clock {
 public:
  int64_t now = 0;
  int64_t NowMs() override { return now; }
  int64_t WallMs() override { return now; }
  void SleepMs(int64_t ms) override { now += ms; }
};

class FakeRunner : public ProcessRunner {
 public:
  bool alive = true;
  std::set<int> fatal_signals;  // signals that end the process
  std::vector<int> sent;
  FakeClock* clock = nullptr;
  int64_t dies_after_ms = -1;  // after a fatal signal; -1: at once
  int64_t death_time = -1;

  bool Spawn(const SpawnSpec&, ProcessId*, std::string*) override {
    return false;
  }
  bool IsAlive(const ProcessId&) override {
    if (death_time >= 0 && clock->now >= death_time) alive = false;
    return alive;
  }
  bool Signal(const ProcessId& id, int sig, std::string* err) override {
    if (!IsAlive(id)) {
      *err = "process " + std::to_string(id.pid) + " is not running";
      return false;
    }
    sent.push_back(sig);
    if (fatal_signals.count(sig)) {
      if (dies_after_ms < 0) {
        alive = false;
      } else if (death_time < 0) {
        death_time = clock->now + dies_after_ms;
      }
    }
    return true;
  }
  bool CpuTimeMs(const ProcessId&, int64_t*) override { return false; }
  bool Run(const std::vector<std::string>&, const std::string&, int64_t,
           RunResult*, std::string*) override {
    return false;
  }
};

struct Fakes {
  FakeClock clock;
  FakeRunner runner;
  Fakes() { runner.clock = &clock; }
  Env env() {
    Env e;
    e.clock = &clock;
    e.processes = &runner;
    return e;
  }
};

const ProcessId kProcess{4242, 7};

TEST_CASE("a stop waits for the drain, polling every 10 ms", "[backend]") {
  Fakes f;
  f.runner.fatal_signals = {SIGTERM};
  f.runner.dies_after_ms = 125;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopBackend(f.env(), Drain(SIGTERM, 1000), kProcess, &elapsed, &err) ==
        StopOutcome::kExited);
  CHECK(elapsed == 130);
  CHECK(f.runner.sent == std::vector<int>{SIGTERM});
}

TEST_CASE("a stop sends SIGKILL exactly at the drain timeout", "[backend]") {
  Fakes f;
  f.runner.fatal_signals = {SIGKILL};
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopBackend(f.env(), Drain(SIGINT, 300), kProcess, &elapsed, &err) ==
        StopOutcome::kKilled);
  CHECK(elapsed == 300);
  CHECK(f.runner.sent == std::vector<int>{SIGINT, SIGKILL});
  CHECK(err.empty());
}

TEST_CASE("a process that survives SIGKILL for 2 s is a failed stop",
          "[backend]") {
  Fakes f;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopBackend(f.env(), Drain(SIGTERM, 300), kProcess, &elapsed, &err) ==
        StopOutcome::kFailed);
  CHECK(elapsed == 2300);
  CHECK(err == "process 4242 is still running 2s after SIGKILL");
  CHECK(f.runner.sent == std::vector<int>{SIGTERM, SIGKILL});
}

TEST_CASE("stopping a process that is not running sends nothing", "[backend]") {
  Fakes f;
  f.runner.alive = false;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopBackend(f.env(), Drain(SIGTERM, 300), kProcess, &elapsed, &err) ==
        StopOutcome::kNotRunning);
  CHECK(elapsed == 0);
  CHECK(f.runner.sent.empty());
  CHECK(std::string(StopOutcomeName(StopOutcome::kKilled)) == "killed");
}

}  // namespace
}  // namespace bgctl
