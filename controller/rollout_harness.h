// Test-only: the harness of the rollout unit tests (rollout_test.cc and
// operations_test.cc): a World of fakes (fake_env.h) with a real ReloadSwitch,
// ProcessSlotRunner, Reporter, LogFollower and judge on top, and helpers to
// build the expected upstream files. Not compiled into bgctl_core.
#ifndef BGCTL_CONTROLLER_ROLLOUT_HARNESS_H_
#define BGCTL_CONTROLLER_ROLLOUT_HARNESS_H_

#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controller/fake_env.h"
#include "controller/history.h"
#include "controller/output.h"
#include "controller/process_slot_runner.h"
#include "controller/reload_switch.h"
#include "controller/rollout.h"
#include "controller/state.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace rollout_testing {

using fake::FakeClock;
using fake::FakeFileSystem;
using fake::FakeHttpProbe;
using fake::FakeNginx;
using fake::FakeProcessRunner;
using fake::FakeTrafficSwitch;

constexpr int kBlue = 8081;
constexpr int kGreen = 8082;
const std::string kName = "demo_backend";
const std::string kUpstreamFile = "/srv/demo/nginx/upstream.conf";
const std::string kStateDir = "/srv/demo/.bgctl";
const std::string kStatePath = kStateDir + "/state.json";
const std::string kHistoryPath = kStateDir + "/history.jsonl";
// WallMs of the fake clock when a test starts (FakeClock::kStartMs after
// 1700000000000 = 2023-11-14T22:13:20Z).
const std::string kStartUtc = "2023-11-14T22:13:21Z";

inline std::string Upstream(const std::vector<UpstreamServer>& servers,
                            uint64_t generation) {
  return RenderUpstream(kName, servers, generation);
}

// What a FILE* receives, in memory.
class MemFile {
 public:
  MemFile() : file_(open_memstream(&buf_, &len_)) {}
  ~MemFile() {
    std::fclose(file_);
    std::free(buf_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  FILE* get() { return file_; }
  std::string str() {
    std::fflush(file_);
    return std::string(buf_, len_);
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  FILE* file_;
};

inline Config TestConfig(const std::string& dir) {
  Config c;
  c.path = dir + "/bgctl.yaml";
  c.dir = dir;
  c.service = "demo";
  c.state_dir = kStateDir;
  c.nginx.upstream_file = kUpstreamFile;
  c.nginx.upstream_name = kName;
  c.nginx.test_command = {"nginx", "-t", "-c", "nginx.conf"};
  c.nginx.reload_command = {"nginx", "-s", "reload", "-c", "nginx.conf"};
  c.nginx.access_log = dir + "/access.log";
  c.nginx.probe_url = "http://127.0.0.1:8080/__bgctl/generation";
  c.nginx.probe_host = "127.0.0.1";
  c.nginx.probe_port = 8080;
  c.nginx.probe_path = "/__bgctl/generation";
  c.blue_port = kBlue;
  c.green_port = kGreen;
  c.backend.command = {"bin/app", "--port", "{port}", "--version", "{version}"};
  c.backend.workdir = "/srv/demo";
  c.backend.env = {{"APP_ENV", "test"}};
  c.backend.health.path = "/healthz";
  c.backend.health.interval_ms = 200;
  c.backend.health.timeout_ms = 1000;
  c.backend.health.healthy_threshold = 3;
  c.backend.health.deadline_ms = 30000;
  c.rollout.steps = {{10, 1000, false}, {50, 1000, false}, {100, 0, false}};
  c.rollout.analysis.interval_ms = 1000;
  c.rollout.analysis.min_requests = 10;
  c.rollout.analysis.failure_limit = 2;
  c.hooks.timeout_ms = 30000;
  return c;
}

// One service on fakes: nginx serving the placeholder (generation 0), both
// slots' health checks answering 200, an empty access log in a temp dir.
struct World {
  testing::TempDir tmp;
  std::vector<std::string> journal;
  FakeClock clock;
  FakeFileSystem fs{&clock, &journal};
  FakeProcessRunner processes{&clock, &journal};
  FakeHttpProbe http;
  Config cfg = TestConfig(tmp.path());
  FakeNginx server{cfg.nginx, &clock, &fs, &processes, &http, &journal};
  ReloadSwitch nginx{cfg.nginx, cfg.dir, Env{&clock, &fs, &processes, &http}};
  ProcessSlotRunner runner{cfg, Env{&clock, &fs, &processes, &http}};
  // Not used unless UseFakeSwitch(): records splits in the journal.
  FakeTrafficSwitch traffic{&journal};
  MemFile out, err;
  Reporter reporter{&clock, false, out.get(), err.get()};
  volatile std::sig_atomic_t stop = 0;
  RolloutContext ctx;
  State state;

  World() {
    REQUIRE(tmp.ok());
    REQUIRE(testing::WriteWholeFile(cfg.nginx.access_log, ""));
    // Confirm reloads by the settle time: FakeNginx has no processes for a
    // socket inspector to look at.
    nginx.set_socket_inspector(nullptr);
    ctx.config = &cfg;
    ctx.env = Env{&clock, &fs, &processes, &http};
    ctx.traffic = &nginx;
    ctx.runner = &runner;
    ctx.out = &reporter;
    ctx.stop_requested = &stop;
    ctx.self = ProcessId{4242, 77};
    ctx.self_argv = {"/usr/local/bin/bgctl", "-c", cfg.path};
    ctx.state_path = kStatePath;
    ctx.history_path = kHistoryPath;
    http.Statuses(kBlue, "/healthz", {200});
    http.Statuses(kGreen, "/healthz", {200});
    server.Serve(RenderPlaceholderUpstream(kName, kBlue), 0);
  }

  // The rollout talks to `traffic` instead of the reload switch on FakeNginx.
  void UseFakeSwitch() {
    ctx.traffic = &traffic;
    traffic.served = state.generation;
  }
  // The journal's "switch ..." entries.
  std::vector<std::string> Switches() {
    return fake::Filter(journal, "switch ");
  }

  // Blue runs `version` (pid 500) as the stable version, generation 1.
  void StartStable(const std::string& version = "v1") {
    state.phase = Phase::kPromoted;
    state.stable_slot = "blue";
    state.blue.version = version;
    state.blue.instance.process = processes.Adopt();
    state.generation = 1;
    state.deploy_id = "d-1";
    server.Serve(Upstream({{kBlue, 100}}, 1), 1);
    Save();
  }

  // v2 in green (pid 500) was promoted over v1 in blue (pid 501, running
  // or not), generation 4.
  void StartPromoted(bool previous_alive) {
    state.phase = Phase::kPromoted;
    state.stable_slot = "green";
    state.green = {"v2", Instance{processes.Adopt(), "", ""}};
    state.blue = {"v1", Instance{processes.Adopt(), "", ""}};
    if (!previous_alive) processes.Exit(state.blue.instance.process.pid);
    state.previous_slot = "blue";
    state.previous_version = "v1";
    state.generation = 4;
    state.steps = {10, 50, 100};
    state.step_index = 2;
    state.step_count = 3;
    server.Serve(Upstream({{kGreen, 100}}, 4), 4);
    Save();
  }

  void Save() {
    std::string e;
    REQUIRE(SaveState(&fs, kStatePath, state, &e));
  }
  // The state as state.json holds it.
  State Saved() {
    State s;
    std::string e;
    REQUIRE(LoadState(&fs, kStatePath, &s, &e));
    return s;
  }
  std::vector<HistoryEntry> History() {
    std::vector<HistoryEntry> entries;
    std::string e;
    REQUIRE(ReadHistory(&fs, kHistoryPath, &entries, &e));
    return entries;
  }
  std::vector<std::string> UpstreamWrites() {
    return fs.WritesTo(kUpstreamFile);
  }
  // The write time of the upstream file's last write.
  int64_t LastUpstreamWriteMs() {
    int64_t at = -1;
    for (const auto& w : fs.writes())
      if (w.path == kUpstreamFile) at = w.at_ms;
    return at;
  }
  // The journal entries about processes and nginx reloads, in order.
  std::vector<std::string> Actions() {
    std::vector<std::string> out;
    for (const std::string& e : journal)
      if (e.rfind("spawn ", 0) == 0 || e.rfind("signal ", 0) == 0 ||
          e.rfind("exit ", 0) == 0 || e.rfind("reload ", 0) == 0 ||
          e.rfind("serving ", 0) == 0)
        out.push_back(e);
    return out;
  }

  // Appends `count` access-log lines of requests that `port` answered with
  // `status` in 5 ms, started now (the fake clock's wall time).
  void AppendLog(int port, int status, int count) {
    FILE* f = std::fopen(cfg.nginx.access_log.c_str(), "a");
    REQUIRE(f != nullptr);
    const double msec = static_cast<double>(clock.WallMs() + 5) / 1000;
    for (int i = 0; i < count; ++i)
      std::fprintf(f,
                   "{\"msec\":%.3f,\"pid\":4000,\"method\":\"GET\","
                   "\"uri\":\"/\",\"status\":%d,\"request_time\":0.005,"
                   "\"upstream_addr\":\"127.0.0.1:%d\",\"upstream_status\":"
                   "\"%d\",\"upstream_response_time\":\"0.005\","
                   "\"bytes_sent\":120,\"time\":\"2023-11-14T22:13:21+00:00\"}"
                   "\n",
                   msec, status, port, status);
    std::fclose(f);
  }

  ExitCode Deploy(const std::string& version, std::string* e,
                  const std::vector<StepConfig>& steps = {}) {
    return bgctl::Deploy(&ctx, &state, version, steps, e);
  }
  // Continues as a new bgctl process would: from state.json.
  ExitCode Promote(bool full, std::string* e) {
    state = Saved();
    return bgctl::Promote(&ctx, &state, full, e);
  }
};

// The banner StartBackend writes at the top of a slot's log.
inline std::string Banner(const std::string& version, const std::string& slot,
                          int port) {
  return "bgctl: starting version " + version + " in slot " + slot +
         " on port " + std::to_string(port) + " at " + kStartUtc + "\n";
}

// A rollout of v2 over stable v1, paused at 10%.
inline void PausedAtTen(World* w) {
  w->StartStable();
  w->cfg.rollout.steps = {{10, 0, true}, {50, 1000, false}, {100, 0, false}};
  std::string err;
  REQUIRE(w->Deploy("v2", &err) == kExitOk);
  w->state = w->Saved();
}

}  // namespace rollout_testing
}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ROLLOUT_HARNESS_H_
