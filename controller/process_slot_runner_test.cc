// ProcessSlotRunner and StopProcess: with real processes (sh -c as the child
// program, to build backends that drain or ignore signals), and with fakes
// for the exact timing of the stop sequence.
#include "controller/process_slot_runner.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <vector>

#include "controller/fake_env.h"
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

Env RealEnvWithFixedWall(fake::FixedWallClock* clock) {
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

// An instance the real runner started, and its log.
struct Started {
  Instance instance;
  ProcessId process;
  std::string log_path;
};

bool StartBackend(Env env, const Config& cfg, const std::string& slot,
                  const std::string& version, Started* out, std::string* err) {
  ProcessSlotRunner runner(cfg, env);
  runner.Prepare(slot, &out->instance);
  out->log_path = runner.LogPath(slot);
  if (!runner.Start(slot, version, &out->instance, err)) return false;
  out->process = out->instance.process;
  return true;
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
    "[process_runner]") {
  testing::TempDir dir;
  fake::FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "echo slot={slot} version={version} port={port} {other}; "
      "echo env=$BGCTL_SLOT/$BGCTL_VERSION/$BGCTL_PORT/$APP_ENV; pwd; "
      "exec sleep 30"};
  Started started;
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
  CHECK(StopProcess(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
}

TEST_CASE(
    "starting a backend in an unknown slot or from a missing program fails",
    "[process_runner]") {
  testing::TempDir dir;
  fake::FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {"bin/backend-{version}", "--port", "{port}"};
  Started started;
  std::string err;
  CHECK_FALSE(StartBackend(env, cfg, "red", "v1", &started, &err));
  CHECK(err == "unknown slot \"red\"");
  CHECK_FALSE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  CHECK(err == "cannot start \"bin/backend-v1\": No such file or directory");
  CHECK(started.process.pid == 0);
}

TEST_CASE("a backend that exits on the drain signal stops as exited quickly",
          "[process_runner]") {
  testing::TempDir dir;
  fake::FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  // It takes 200 ms to drain, so the elapsed time has a floor to check.
  cfg.backend.command = {"/bin/sh", "-c",
                         "trap 'echo draining; sleep 0.2; exit 0' TERM; "
                         "echo ready; while :; do sleep 0.05; done"};
  Started started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  int64_t before = env.clock->NowMs();
  CHECK(StopProcess(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
  int64_t outside = env.clock->NowMs() - before;
  CHECK(elapsed >= 200);
  CHECK(elapsed <= outside);
  CHECK(elapsed < 1000);
  CHECK(err.empty());
  CHECK(testing::ReadWholeFile(started.log_path).find("draining\n") !=
        std::string::npos);
  CHECK_FALSE(env.processes->IsAlive(started.process));
  // Again, now that it is gone.
  CHECK(StopProcess(env, Drain(SIGTERM, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kNotRunning);
  CHECK(elapsed == 0);
  CHECK(err.empty());
}

TEST_CASE("the configured drain signal is the one sent", "[process_runner]") {
  testing::TempDir dir;
  fake::FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "trap '' TERM; trap 'echo got-usr1; exit 0' USR1; echo ready; "
      "while :; do sleep 0.05; done"};
  Started started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "blue", "v1", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  CHECK(StopProcess(env, Drain(SIGUSR1, 5000), started.process, &elapsed,
                    &err) == StopOutcome::kExited);
  CHECK(elapsed < 1000);
  CHECK(testing::ReadWholeFile(started.log_path).find("got-usr1\n") !=
        std::string::npos);
}

TEST_CASE("a backend that ignores the drain signal is killed after the timeout",
          "[process_runner]") {
  testing::TempDir dir;
  fake::FixedWallClock clock;
  Env env = RealEnvWithFixedWall(&clock);
  Config cfg = TestConfig(dir.path());
  cfg.backend.command = {
      "/bin/sh", "-c",
      "trap '' TERM; echo ready; while :; do sleep 0.05; done"};
  Started started;
  std::string err;
  REQUIRE(StartBackend(env, cfg, "green", "v3", &started, &err));
  ProcessGuard guard(started.process);
  REQUIRE(testing::WaitForFileContains(started.log_path, "ready\n", 5000));
  int64_t elapsed = -1;
  CHECK(StopProcess(env, Drain(SIGTERM, 300), started.process, &elapsed,
                    &err) == StopOutcome::kKilled);
  CHECK(elapsed >= 300);
  CHECK(elapsed < 1300);
  CHECK(err.empty());
  CHECK_FALSE(env.processes->IsAlive(started.process));
}

// The exact stop sequence, on the fakes of fake_env.h.
struct Fakes {
  fake::FakeClock clock;
  fake::FakeProcessRunner runner{&clock};
  ProcessId process = runner.Adopt();
  Env env() { return Env{&clock, nullptr, &runner, nullptr}; }
  std::vector<int> Sent() { return runner.Process(process.pid).signals; }
};

TEST_CASE("a stop waits for the drain, polling every 10 ms",
          "[process_runner]") {
  Fakes f;
  f.runner.Process(f.process.pid).drain_ms = 125;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopProcess(f.env(), Drain(SIGTERM, 1000), f.process, &elapsed, &err) ==
        StopOutcome::kExited);
  CHECK(elapsed == 130);
  CHECK(f.Sent() == std::vector<int>{SIGTERM});
}

TEST_CASE("a stop sends SIGKILL exactly at the drain timeout",
          "[process_runner]") {
  Fakes f;
  f.runner.Process(f.process.pid).ignores_drain = true;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopProcess(f.env(), Drain(SIGINT, 300), f.process, &elapsed, &err) ==
        StopOutcome::kKilled);
  CHECK(elapsed == 300);
  CHECK(f.Sent() == std::vector<int>{SIGINT, SIGKILL});
  CHECK(err.empty());
}

TEST_CASE("a process that survives SIGKILL for 2 s is a failed stop",
          "[process_runner]") {
  Fakes f;
  f.runner.Process(f.process.pid).ignores_drain = true;
  f.runner.Process(f.process.pid).survives_kill = true;
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopProcess(f.env(), Drain(SIGTERM, 300), f.process, &elapsed, &err) ==
        StopOutcome::kFailed);
  CHECK(elapsed == 2300);
  CHECK(err == "process 500 is still running 2s after SIGKILL");
  CHECK(f.Sent() == std::vector<int>{SIGTERM, SIGKILL});
}

TEST_CASE("stopping a process that is not running sends nothing",
          "[process_runner]") {
  Fakes f;
  f.runner.Exit(f.process.pid);
  int64_t elapsed = -1;
  std::string err;
  CHECK(StopProcess(f.env(), Drain(SIGTERM, 300), f.process, &elapsed, &err) ==
        StopOutcome::kNotRunning);
  CHECK(elapsed == 0);
  CHECK(f.Sent().empty());
  CHECK(std::string(StopOutcomeName(StopOutcome::kKilled)) == "killed");
}

TEST_CASE(
    "a start gives the instance its tag, and a process whose pid was never "
    "recorded is found again by it",
    "[process_runner]") {
  fake::FakeClock clock;
  fake::FakeFileSystem fs{&clock};
  fake::FakeProcessRunner processes{&clock};
  Config cfg = TestConfig("/srv/demo");
  cfg.backend.command = {"bin/app", "--port", "{port}"};
  ProcessSlotRunner runner(cfg, Env{&clock, &fs, &processes, nullptr});
  Instance instance;
  runner.Prepare("green", &instance);
  CHECK(instance.tag.size() == 16);
  CHECK(instance.process.pid == 0);
  Instance other;
  runner.Prepare("green", &other);
  CHECK(other.tag != instance.tag);
  std::string err;
  REQUIRE(runner.Start("green", "v2", &instance, &err));
  CHECK(processes.Process(instance.process.pid).spec.env.at("BGCTL_INSTANCE") ==
        instance.tag);
  // bgctl died before it recorded the pid: only the tag is known.
  Instance recorded;
  recorded.tag = instance.tag;
  REQUIRE(runner.Adopt(&recorded));
  CHECK(recorded.process.pid == instance.process.pid);
  CHECK(recorded.process.start_time == instance.process.start_time);
  processes.Exit(instance.process.pid);
  Instance gone;
  gone.tag = instance.tag;
  CHECK_FALSE(runner.Adopt(&gone));
  CHECK(gone.process.pid == 0);
}

}  // namespace
}  // namespace bgctl
