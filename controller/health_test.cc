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

#include "controller/fake_env.h"
#include "controller/process.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

// One scripted answer of the health endpoint: a status, or a failure with
// `err`, taking latency_ms.
struct Answer {
  Answer(int status, std::string err = "", int64_t latency_ms = 0)
      : status(status), err(std::move(err)), latency_ms(latency_ms) {}
  int status;
  std::string err;  // non-empty: the probe fails with this error
  int64_t latency_ms;
};

// The fakes of fake_env.h: the health endpoints of ports 8081 and 8082
// answer from one script, whose last answer repeats; `alive` is the
// instance's liveness.
struct Fakes {
  fake::FakeClock clock;
  fake::FakeHttpProbe probe{&clock};
  std::deque<fake::FakeHttpProbe::Answer> answers;
  bool alive = true;
  Fakes() {
    for (int port : {8081, 8082})
      for (const char* path : {"/healthz", "/ready"})
        probe.Answers(port, path, &answers);
  }
  void Script(const std::vector<Answer>& script) {
    answers.clear();
    for (const Answer& a : script)
      answers.push_back({a.err.empty(), a.status, a.err, a.latency_ms});
  }
  Env env() { return Env{&clock, nullptr, nullptr, &probe}; }
  std::function<bool()> Alive() {
    return [this] { return alive; };
  }
  // When each check started, from the first call of the test.
  std::vector<int64_t> CallTimes() const {
    std::vector<int64_t> out;
    for (const auto& c : probe.calls())
      out.push_back(c.at_ms - fake::FakeClock::kStartMs);
    return out;
  }
  std::vector<int64_t> Timeouts() const {
    std::vector<int64_t> out;
    for (const auto& c : probe.calls()) out.push_back(c.timeout_ms);
    return out;
  }
  std::string Target(size_t i) const {
    const auto& c = probe.calls().at(i);
    return c.host + ":" + std::to_string(c.port) + c.path;
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

TEST_CASE("a canary is healthy after exactly threshold consecutive successes",
          "[health]") {
  Fakes f;
  f.Script({{200}});
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 30000;
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, f.Alive());
  CHECK(r.outcome == HealthOutcome::kHealthy);
  CHECK(r.checks == 3);
  CHECK(r.elapsed_ms == 400);
  CHECK(r.last_error == "");
  CHECK(f.CallTimes() == std::vector<int64_t>{0, 200, 400});
  CHECK(f.Target(0) == "127.0.0.1:8082/healthz");
  CHECK(f.Timeouts() == std::vector<int64_t>{1000, 1000, 1000});
}

TEST_CASE("a failed check resets the count of consecutive successes",
          "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 5000;
  f.Script({{200},
            {200},
            {503},
            {200},
            {0, "GET x: Connection refused"},
            {204},
            {200},
            {299}});
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, f.Alive());
  CHECK(r.outcome == HealthOutcome::kHealthy);
  CHECK(r.checks == 8);
  CHECK(r.elapsed_ms == 1400);
  CHECK(r.last_error == "GET x: Connection refused");
}

TEST_CASE("a canary that never gets healthy fails exactly at the deadline",
          "[health]") {
  Fakes f;
  f.Script({{503}});
  HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, f.Alive());
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(r.elapsed_ms == 1000);
  CHECK(r.checks == 5);
  CHECK(r.last_error == k503);

  Fakes g;  // a deadline between two polls; late successes do not count
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 1050;
  g.Script({{503}, {503}, {503}, {503}, {200}, {200}, {200}});
  r = WaitHealthy(g.env(), cfg, 8082, g.Alive());
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(r.elapsed_ms == 1050);
  CHECK(r.checks == 6);
  CHECK(g.CallTimes().back() == 1000);
  CHECK(r.last_error == k503);
}

TEST_CASE("each check is bounded by the timeout and by the time left",
          "[health]") {
  Fakes f;
  HealthConfig cfg = Cfg();
  cfg.deadline_ms = 1500;
  // A probe that hangs for its whole timeout, then fails.
  f.Script({{0, "timed out", 1000}, {0, "timed out", 300}});
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, f.Alive());
  CHECK(r.outcome == HealthOutcome::kDeadline);
  CHECK(f.Timeouts() == std::vector<int64_t>{1000, 300});
  CHECK(f.CallTimes() == std::vector<int64_t>{0, 1200});
  CHECK(r.elapsed_ms == 1500);
  CHECK(r.checks == 2);
}

TEST_CASE("a canary that exits is reported at once", "[health]") {
  SECTION("dead before the first check") {
    Fakes f;
    f.alive = false;
    f.Script({{200}});
    HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, f.Alive());
    CHECK(r.outcome == HealthOutcome::kExited);
    CHECK(r.checks == 0);
    CHECK(r.elapsed_ms == 0);
  }
  SECTION("dies during a failing check: no sleep before the report") {
    Fakes f;
    HealthConfig cfg = Cfg();
    cfg.deadline_ms = 30000;
    f.Script({{503}, {0, "GET x: Connection refused", 5}});
    f.probe.on_get = [&](int call) {
      if (call == 1) f.alive = false;
    };
    HealthResult r = WaitHealthy(f.env(), cfg, 8082, f.Alive());
    CHECK(r.outcome == HealthOutcome::kExited);
    CHECK(r.checks == 2);
    CHECK(r.elapsed_ms == 205);
    CHECK(r.last_error == "GET x: Connection refused");
  }
  SECTION("dies between two successful checks") {
    Fakes f;
    f.Script({{200}});
    f.probe.on_get = [&](int call) {
      if (call == 1) f.alive = false;
    };
    HealthResult r = WaitHealthy(f.env(), Cfg(), 8082, f.Alive());
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
  f.Script({{503}});
  f.probe.on_get = [&](int call) {
    if (call == 2) stop = 1;  // SIGINT arrives during the third check
  };
  HealthResult r = WaitHealthy(f.env(), cfg, 8082, f.Alive(), &stop);
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
  f.Script({{204}, {302}, {0, "GET http://127.0.0.1:9/ready: boom"}});
  CHECK(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK_FALSE(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK(err == "GET http://127.0.0.1:8081/ready: status 302");
  CHECK_FALSE(CheckHealthOnce(f.env(), cfg, 8081, &err));
  CHECK(err == "GET http://127.0.0.1:9/ready: boom");
  CHECK(f.Timeouts() == std::vector<int64_t>{750, 750, 750});
  CHECK(f.Target(0) == "127.0.0.1:8081/ready");
}

// The real side: RealClock, RealHttpProbe, RealProcessRunner.
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
  Env env;
  env.clock = RealClock();
  env.http = RealHttpProbe();
  env.processes = RealProcessRunner();
  ProcessId self{getpid(), 0};
  REQUIRE(ReadStartTime(self.pid, &self.start_time));
  HealthConfig cfg = Cfg();
  cfg.interval_ms = 20;
  cfg.deadline_ms = 5000;
  HealthResult r = WaitHealthy(
      env, cfg, port, [&] { return RealProcessRunner()->IsAlive(self); });
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
  Env env;
  env.clock = RealClock();
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
  HealthResult r =
      WaitHealthy(env, cfg, port, [&] { return env.processes->IsAlive(id); });
  CHECK(r.outcome == HealthOutcome::kExited);
  CHECK(r.elapsed_ms >= 250);
  CHECK(r.elapsed_ms < 2000);
  CHECK(r.last_error == "GET http://127.0.0.1:" + std::to_string(port) +
                            "/healthz: Connection refused");
}

}  // namespace
}  // namespace bgctl
