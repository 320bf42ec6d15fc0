// WaitHealthy and CheckHealthOnce: exact behaviour with a fake clock, probe
// and process runner; then once against a real server and real processes.
#include "controller/health.h"

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "controller/process.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

class FakeClock : public Clock {
 public:
  int64_t now = 0;
  int64_t NowMs() override { return now; }
  int64_t WallMs() override { return 1700000000000 + now; }
  void SleepMs(int64_t ms) override { now += ms; }
};

// One scripted answer: a status, or a failure with `err`, taking latency_ms.
struct Answer {
  Answer(int status, std::string err = "", int64_t latency_ms = 0)
      : status(status), err(std::move(err)), latency_ms(latency_ms) {}
  int status;
  std::string err;  // non-empty: the probe fails with this error
  int64_t latency_ms;
};

class FakeProbe : public HttpProbe {
 public:
  explicit FakeProbe(FakeClock* clock) : clock_(clock) {}
  std::vector<Answer> script;  // the last answer repeats
  std::vector<int64_t> call_times;
  std::vector<int64_t> timeouts;
  std::vector<std::string> targets;
  std::function<void(int call)> on_call;  // after the call's latency

  bool Get(const std::string& host, int port, const std::string& path,
           int64_t timeout_ms, HttpResponse* out, std::string* err) override {
    int call = static_cast<int>(call_times.size());
    call_times.push_back(clock_->now);
    timeouts.push_back(timeout_ms);
    targets.push_back(host + ":" + std::to_string(port) + path);
    const Answer& a = script[std::min<size_t>(call, script.size() - 1)];
    clock_->now += a.latency_ms;
    if (on_call) on_call(call);
    if (!a.err.empty()) {
      *err = a.err;
      return false;
    }
    out->status = a.status;
    out->body = "";
    return true;
  }

 private:
  FakeClock* clock_;
};

class FakeRunner : public ProcessRunner {
 public:
  bool alive = true;
  int alive_checks = 0;
  bool Spawn(const SpawnSpec&, ProcessId*, std::string*) override {
    return false;
  }
  bool IsAlive(const ProcessId&) override {
    ++alive_checks;
    return alive;
  }
  bool Signal(const ProcessId&, int, std::string*) override { return false; }
  bool CpuTimeMs(const ProcessId&, int64_t*) override { return false; }
  bool Run(const std::vector<std::string>&, const std::string&, int64_t,
           RunResult*, std::string*) override {
    return false;
  }
};

struct Fakes {
  FakeClock clock;
  FakeProbe probe{&clock};
  FakeRunner runner;
  Env env() {
    Env e;
    e.clock = &clock;
    e.http = &probe;
    e.processes = &runner;
    return e;
  }
};

HealthConfig Cfg() {
  HealthConfig cfg;
  cfg.path = "/healthz";
  cfg.interval_ms = 200;
  cfg.timeout_ms = 1000;
  cfg.healthy_threshold = 3;
  cfg.deadline_ms = 1000;
  return cfg;
}

const char k503[] = "GET http://127.0.0.1:8082/healthz: status 503";
const ProcessId kProcess{4242, 99};

TEST_CASE("a canary is healthy after exactly threshold consecutive successes",
          "[health]") {
  Fakes f;
  f.probe.script = {{200}};
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 30000;
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, kProcess);
  CHECK(r.outcome == HealthOutcome::kHealthy);
  CHECK(r.checks == 3);
  CHECK(r.elapsed_ms == 400);
  CHECK(r.last_error == "");
  CHECK(f.probe.call_times == std::vector<int64_t>{0, 200, 400});
  CHECK(f.probe.targets[0] == "127.0.0.1:8082/healthz");
  CHECK(f.probe.timeouts == std::vector<int64_t>{1000, 1000, 1000});
}

TEST_CASE("a failed check resets the count of consecutive successes",
          "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 5000;
  f.probe.script = {
      {200}, {200}, {503}, {200}, {0, "GET x: Connection refused"},
      {204}, {200}, {299}};
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, kProcess);
  CHECK(r.outcome == HealthOutcome::kHealthy);
  CHECK(r.checks == 8);
  CHECK(r.elapsed_ms == 1400);
  CHECK(r.last_error == "GET x: Connection refused");
}

TEST_CASE("a canary that never gets healthy fails exactly at the deadline",
          "[health]") {
  Fakes f;
  f.probe.script = {{503}};
  HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, kProcess);
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(r.elapsed_ms == 1000);
  CHECK(r.checks == 5);
  CHECK(r.last_error == k503);

  Fakes g;  // a deadline between two polls; late successes do not count
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 1050;
  g.probe.script = {{503}, {503}, {503}, {503}, {200}, {200}, {200}};
  r = WaitHealthy(g.env(), cfg, 8082, kProcess);
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(r.elapsed_ms == 1050);
  CHECK(r.checks == 6);
  CHECK(g.probe.call_times.back() == 1000);
  CHECK(r.last_error == k503);
}

TEST_CASE("each check is bounded by the timeout and by the time left",
          "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 1500;
  // A probe that hangs for its whole timeout, then fails.
  f.probe.script = {{0, "timed out", 1000}, {0, "timed out", 300}};
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, kProcess);
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(f.probe.timeouts == std::vector<int64_t>{1000, 300});
  CHECK(f.probe.call_times == std::vector<int64_t>{0, 1200});
  CHECK(r.elapsed_ms == 1500);
  CHECK(r.checks == 2);
}

TEST_CASE("a canary that exits is reported at once", "[health]") {
  SECTION("dead before the first check") {
    Fakes f;
    f.runner.alive = false;
    f.probe.script = {{200}};
    HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, kProcess);
    CHECK(r.outcome == HealthOutcome::kExited);
    CHECK(r.checks == 0);
    CHECK(r.elapsed_ms == 0);
  }
  SECTION("dies during a failing check: no sleep before the report") {
    Fakes f;
    HealthConfig cfg = Cfg();
    cfg.deadline_ms = 30000;
    f.probe.script = {{503}, {0, "GET x: Connection refused", 5}};
    f.probe.on_call = [&](int call) {
      if (call == 1) f.runner.alive = false;
    };
    HealthResult r = WaitHealthy(f.env(), cfg, 8082, kProcess);
    CHECK(r.outcome == HealthOutcome::kExited);
    CHECK(r.checks == 2);
    CHECK(r.elapsed_ms == 205);
    CHECK(r.last_error == "GET x: Connection refused");
  }
  SECTION("dies between two successful checks") {
    Fakes f;
    f.probe.script = {{200}};
    f.probe.on_call = [&](int call) {
      if (call == 1) f.runner.alive = false;
    };
    HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, kProcess);
    CHECK(r.outcome == HealthOutcome::kExited);
    CHECK(r.checks == 2);
    CHECK(r.elapsed_ms == 400);
  }
}

TEST_CASE("a stop request cancels the wait at the next poll", "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 30000;
  volatile std::sig_atomic_t stop = 0;
  f.probe.script = {{503}};
  f.probe.on_call = [&](int call) {
    if (call == 2) stop = 1;  // SIGINT arrives during the third check
  };
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, kProcess, &stop);
  CHECK(r.outcome == HealthOutcome::kCancelled);
  CHECK(r.checks == 3);
  CHECK(r.elapsed_ms == 600);
  CHECK(r.last_error == k503);
}

TEST_CASE("one health check accepts 2xx only", "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.path = "/ready";
  cfg.timeout_ms = 750;
  std::string err;
  f.probe.script = {{204}, {302}, {0, "GET http://127.0.0.1:9/ready: boom"}};
  CHECK(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK_FALSE(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK(err == "GET http://127.0.0.1:8081/ready: status 302");
  CHECK_FALSE(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK(err == "GET http://127.0.0.1:9/ready: boom");
  CHECK(f.probe.timeouts == std::vector<int64_t>{750, 750, 750});
  CHECK(f.probe.targets[0] == "127.0.0.1:8081/ready");
}

// The real side: a steady clock, RealHttpProbe, RealProcessRunner.
class SteadyClock : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void SleepMs(int64_t ms) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

TEST_CASE("a real server becomes healthy after its first failures",
          "[health]") {
  httplib::Server server;
  std::atomic<int> calls{0};
  server.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    res.status = ++calls <= 2 ? 503 : 200;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread thread([&] { server.listen_after_bind(); });
  struct Stop {
    httplib::Server& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{server, thread};
  SteadyClock clock;
  Env env;
  env.clock = &clock;
  env.http = RealHttpProbe();
  env.processes = RealProcessRunner();
  ProcessId self{getpid(), 0};
  REQUIRE(ReadStartTime(self.pid, &self.start_time));
  HealthConfig cfg = Cfg();
  cfg.interval_ms = 20;
  cfg.deadline_ms = 5000;
  HealthResult r = WaitHealthy(env, cfg, port, self);
  CHECK(r.outcome == HealthOutcome::kHealthy);
  CHECK(r.checks == 5);
  CHECK(calls == 5);
  CHECK(r.last_error == "GET http://127.0.0.1:" + std::to_string(port) +
                            "/healthz: status 503");
  CHECK(r.elapsed_ms >= 80);
  CHECK(r.elapsed_ms < 3000);
}

TEST_CASE("a real process that exits without listening is reported as exited",
          "[health]") {
  testing::TempDir dir;
  SteadyClock clock;
  Env env;
  env.clock = &clock;
  env.http = RealHttpProbe();
  env.processes = RealProcessRunner();
  int port = testing::PickFreePort();
  REQUIRE(port > 0);
  SpawnSpec spec;
  spec.argv = {"/bin/sleep", "0.3"};
  spec.log_path = dir.Path("log");
  ProcessId id;
  std::string err;
  REQUIRE(env.processes->Spawn(spec, &id, &err));
  HealthConfig cfg = Cfg();
  cfg.interval_ms = 20;
  cfg.deadline_ms = 10000;
  HealthResult r = WaitHealthy(env, cfg, port, id);
  CHECK(r.outcome == HealthOutcome::kExited);
  CHECK(r.elapsed_ms >= 250);
  CHECK(r.elapsed_ms < 2000);
  CHECK(r.last_error == "GET http://127.0.0.1:" + std::to_string(port) +
                            "/healthz: Connection refused");
}

}  // namespace
}  // namespace bgctl
