// ReloadSwitch (nginx.switch: reload) on the fakes of fake_env.h: the
// exact sequence of write, config test, reload and confirmation, and how it
// fails.
#include "controller/reload_switch.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <deque>

#include "controller/fake_env.h"

namespace bgctl {
namespace {

using fake::FakeClock;
using fake::FakeFileSystem;
using fake::FakeHttpProbe;
using fake::FakeProcessRunner;
using fake::FakeSocketInspector;
using ProbeAnswer = FakeHttpProbe::Answer;

const char kUpstreamFile[] = "/srv/demo/nginx/run/upstream.conf";
const char kProbePath[] = "/__bgctl/generation";

// nginx as the fakes play it: the probe answers from `answers`, every
// command is recorded with what the upstream file held while it ran.
struct Harness {
  Harness() {
    cfg.upstream_file = kUpstreamFile;
    cfg.upstream_name = "demo_backend";
    cfg.test_command = {"nginx-test", "-t"};
    cfg.reload_command = {"nginx-reload", "-s", "reload"};
    cfg.probe_url = "http://127.0.0.1:8080/__bgctl/generation";
    cfg.probe_host = "127.0.0.1";
    cfg.probe_port = 8080;
    cfg.probe_path = kProbePath;
    http.Answers(8080, kProbePath, &answers);
    runner.AddHandler([this](const std::vector<std::string>&, RunResult*) {
      file_during_run.push_back(fs.Contents(kUpstreamFile));
      return false;  // the scripted results answer
    });
    inspector.on_find = [this] {
      commands_run_at_find.push_back(runner.runs().size());
    };
  }
  // Without `inspect`, the switch has no socket inspector: the settle time
  // only.
  ReloadSwitch Make(bool inspect = false) {
    ReloadSwitch nginx(cfg, "/srv/demo", Env{&clock, &fs, &runner, &http});
    nginx.set_socket_inspector(inspect ? &inspector : nullptr);
    return nginx;
  }
  std::vector<std::vector<std::string>> Calls() const {
    return runner.RunArgvs();
  }
  std::vector<std::string> Workdirs() const {
    std::vector<std::string> out;
    for (const auto& r : runner.runs()) out.push_back(r.workdir);
    return out;
  }
  std::vector<int64_t> Timeouts() const {
    std::vector<int64_t> out;
    for (const auto& r : runner.runs()) out.push_back(r.timeout_ms);
    return out;
  }
  int Probes() const { return http.Count(8080, kProbePath); }
  std::string LastProbeTarget() const {
    const auto& c = http.calls().back();
    return c.host + ":" + std::to_string(c.port) + c.path;
  }
  bool Reloaded() const {
    const auto& runs = runner.runs();
    return !runs.empty() && runs.back().argv[0] == "nginx-reload";
  }

  NginxConfig cfg;
  FakeClock clock;
  FakeFileSystem fs{&clock};
  FakeProcessRunner runner{&clock};
  FakeHttpProbe http;
  std::deque<ProbeAnswer> answers{{true, 200, "0"}};
  FakeSocketInspector inspector{&clock, [this] { return Reloaded(); }};
  std::vector<std::string> file_during_run;
  std::vector<size_t> commands_run_at_find;
};

TEST_CASE(
    "an apply writes, tests, reloads and is confirmed only once the "
    "probe answers the new generation",
    "[reload_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.answers = {
      {true, 200, "4"}, {true, 200, "4\n"}, {true, 200, "4"}, {true, 200, "5"}};
  ReloadSwitch nginx = h.Make();
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 90}, {8082, 10}}, 5, &err, &elapsed));
  CHECK(err.empty());
  std::string expected =
      RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 5);
  CHECK(h.fs.files[kUpstreamFile] == expected);
  REQUIRE(h.Calls().size() == 2);
  CHECK(h.Calls()[0] == h.cfg.test_command);
  CHECK(h.Calls()[1] == h.cfg.reload_command);
  CHECK(h.Workdirs() == std::vector<std::string>{"/srv/demo", "/srv/demo"});
  CHECK(h.Timeouts() == std::vector<int64_t>{30000, 30000});
  // Both commands saw the new file.
  CHECK(h.file_during_run == std::vector<std::string>{expected, expected});
  // Three old answers 5 ms apart, then the new one at 15 ms and for the
  // 200 ms settle time after it: 3 + 41 probes.
  CHECK(h.Probes() == 44);
  CHECK(h.LastProbeTarget() == "127.0.0.1:8080/__bgctl/generation");
  CHECK(elapsed == 215);
}

TEST_CASE(
    "an old generation answered after the new one starts the settle "
    "time over",
    "[reload_switch]") {
  Harness h;
  h.answers = {
      {true, 200, "5"}, {true, 200, "5"}, {true, 200, "4"}, {true, 200, "5"}};
  ReloadSwitch nginx = h.Make();
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 215);
  CHECK(h.Probes() == 44);
}

TEST_CASE("without a settle time the first new answer confirms",
          "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "4"}, {true, 200, "5"}};
  ReloadSwitch nginx = h.Make();
  nginx.set_settle_ms(0);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 5);
  CHECK(h.Probes() == 2);
}

TEST_CASE("a deadline that ends within the settle time is not a confirmation",
          "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "4"}, {true, 200, "5"}};
  ReloadSwitch nginx = h.Make();
  nginx.set_confirm_deadline_ms(100);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5 for only "
        "95ms of the 200ms settle time, expected 5 after 100ms");
}

TEST_CASE(
    "a failing config test puts the previous file back byte for byte "
    "and never reloads",
    "[reload_switch]") {
  Harness h;
  std::string previous = "# hand-made\r\nupstream x { server 1.2.3.4; }\n";
  previous += std::string("\0\xff tail without newline", 22);
  h.fs.files[kUpstreamFile] = previous;
  h.runner.Script(
      "nginx-test",
      RunResult{1, false,
                "\nnginx: [emerg] host not found in upstream \"x\" in "
                "/p/nginx.conf:49\n"
                "nginx: configuration file /p/nginx.conf test failed\n"});
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 3, &err));
  CHECK(err ==
        "nginx config test failed: nginx: [emerg] host not found in upstream "
        "\"x\" in /p/nginx.conf:49\n"
        "nginx: configuration file /p/nginx.conf test failed");
  CHECK(h.fs.files[kUpstreamFile] == previous);
  REQUIRE(h.Calls().size() == 1);
  CHECK(h.Calls()[0] == h.cfg.test_command);
  CHECK(h.file_during_run[0] ==
        RenderUpstream("demo_backend", {{8081, 100}}, 3));
  CHECK(h.Probes() == 0);
}

TEST_CASE("a failing config test with no previous file removes the new one",
          "[reload_switch]") {
  Harness h;
  h.runner.Script("nginx-test", RunResult{1, false, ""});
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: exit code 1");
  CHECK(h.fs.files.count(kUpstreamFile) == 0);
  CHECK(h.Calls().size() == 1);
}

TEST_CASE("a config test that hangs is reported as timed out",
          "[reload_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.runner.Script("nginx-test", RunResult{-1, true, ""});
  ReloadSwitch nginx = h.Make();
  nginx.set_command_timeout_ms(2000);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: timed out after 2000ms");
  CHECK(h.fs.files[kUpstreamFile] == "old");
  CHECK(h.Timeouts() == std::vector<int64_t>{2000});
}

TEST_CASE(
    "a failing reload leaves the tested file for nginx's next start and "
    "reports nginx's output",
    "[reload_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.runner.Script("nginx-reload",
                  RunResult{1, false,
                            "nginx: [error] open() \"/p/logs/nginx.pid\" "
                            "failed (2: No such file or "
                            "directory)\n"});
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 2, &err));
  CHECK(err ==
        "nginx reload failed: nginx: [error] open() \"/p/logs/nginx.pid\" "
        "failed (2: No such file or directory)");
  CHECK(h.fs.files[kUpstreamFile] ==
        RenderUpstream("demo_backend", {{8081, 100}}, 2));
  CHECK(nginx.last_outcome() == SwitchOutcome::kUnknown);
  CHECK(h.Calls().size() == 2);
  CHECK(h.Probes() == 0);
}

TEST_CASE(
    "a reload the probe never confirms fails at the deadline with the "
    "last generation it answered",
    "[reload_switch]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.answers = {{true, 200, "4"}};
  ReloadSwitch nginx = h.Make();
  nginx.set_confirm_deadline_ms(100);
  std::string err;
  int64_t elapsed = 0;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 4, expected 5 "
        "after 100ms");
  // Probes at 0, 5, ..., 100 ms.
  CHECK(h.Probes() == 21);
  CHECK(elapsed == 100);
  // The file passed the test and stays: nginx may be running it already.
  CHECK(h.fs.files[kUpstreamFile] ==
        RenderUpstream("demo_backend", {{8081, 100}}, 5));
}

TEST_CASE(
    "a probe that cannot connect or answers something else is named in "
    "the error",
    "[reload_switch]") {
  Harness h;
  ReloadSwitch nginx = h.Make();
  nginx.set_confirm_deadline_ms(10);
  std::string err;

  h.answers = {{false, 0, "connection refused"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe failed: connection refused, "
        "expected 5 after 10ms");

  h.answers = {{true, 403, "forbidden"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered HTTP 403, expected 6 "
        "after 10ms");

  h.answers = {{true, 200, "<html>welcome</html>"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 7, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered \"<html>welcome</html>\", "
        "not a generation number, expected 7 after 10ms");
}

TEST_CASE("each probe's time limit never reaches past the deadline",
          "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "1"}};
  ReloadSwitch nginx = h.Make();
  nginx.set_confirm_deadline_ms(3);
  nginx.set_poll_interval_ms(1);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 2, &err));
  CHECK(h.Probes() == 4);
  CHECK(h.http.calls().back().timeout_ms == 1);
}

TEST_CASE("invalid servers are rejected before anything is written",
          "[reload_switch]") {
  Harness h;
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({}, 1, &err));
  CHECK(err == "invalid upstream: no servers");
  CHECK_FALSE(nginx.Apply({{8081, 100}, {8082, 0}}, 1, &err));
  CHECK(err == "invalid upstream: weight 0 for port 8082 (must be 1-100)");
  CHECK_FALSE(nginx.Apply({{0, 100}}, 1, &err));
  CHECK(err == "invalid upstream: port 0 (must be 1-65535)");
  CHECK(h.fs.writes().empty());
  CHECK(h.Calls().empty());
}

TEST_CASE(
    "an upstream file that cannot be written is reported and nothing "
    "runs",
    "[reload_switch]") {
  Harness h;
  h.fs.Fail(kUpstreamFile, "Read-only file system");
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == std::string("cannot write ") + kUpstreamFile +
                   ": Read-only file system");
  CHECK(h.Calls().empty());
}

TEST_CASE("the config test alone runs the test command in the config folder",
          "[reload_switch]") {
  Harness h;
  ReloadSwitch nginx = h.Make();
  std::string err;
  CHECK(nginx.Test(&err));
  h.runner.Script("nginx-test", RunResult{1, false, "nginx: [emerg] bad\n"});
  CHECK_FALSE(nginx.Test(&err));
  CHECK(err == "nginx config test failed: nginx: [emerg] bad");
  CHECK(h.Calls().size() == 2);
  CHECK(h.Workdirs()[1] == "/srv/demo");
}

TEST_CASE("the probed generation is read from the running nginx",
          "[reload_switch]") {
  Harness h;
  ReloadSwitch nginx = h.Make();
  uint64_t generation = 99;
  std::string err;
  h.answers = {{true, 200, "12\n"}};
  REQUIRE(nginx.ProbeGeneration(&generation, &err));
  CHECK(generation == 12);
  h.answers = {{false, 0, "connection refused"}};
  CHECK_FALSE(nginx.ProbeGeneration(&generation, &err));
  CHECK(err ==
        "nginx probe http://127.0.0.1:8080/__bgctl/generation: probe failed: "
        "connection refused");
}

TEST_CASE(
    "a reload is confirmed only once the old workers released the listener, "
    "though the probe answers the new generation before",
    "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.release_at = {{101, 1060}, {102, 1100}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err.empty());
  // The probe answered 5 from 5 ms on; worker 102 let go at 100 ms.
  CHECK(elapsed == 100);
  CHECK(h.Probes() == 21);
  CHECK(nginx.last_confirmed_exactly());
  // Worker 101 was checked at 0, 5, ..., 60 ms, worker 102 until 100 ms.
  CHECK(std::count(h.inspector.checked.begin(), h.inspector.checked.end(),
                   101) == 13);
  CHECK(std::count(h.inspector.checked.begin(), h.inspector.checked.end(),
                   102) == 21);
  CHECK(h.inspector.checked.size() == 34);
  // Looked before the reload command (after the test) and once after.
  CHECK(h.commands_run_at_find == std::vector<size_t>{1, 2});
  CHECK(h.inspector.targets ==
        std::vector<std::string>{"127.0.0.1:8080", "127.0.0.1:8080"});
}

TEST_CASE(
    "after the old workers let go the probe must still answer the new "
    "generation",
    "[reload_switch]") {
  Harness h;
  h.answers.assign(30, {true, 200, "4"});  // 0, 5, ..., 145 ms
  h.answers.push_back({true, 200, "5"});
  h.inspector.release_at = {{101, 1050}, {102, 1050}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 150);
  CHECK(h.Probes() == 31);
  CHECK(h.inspector.checked.size() == 22);  // both, at 0, 5, ..., 50 ms
  CHECK(nginx.last_confirmed_exactly());
}

TEST_CASE(
    "an old worker that never lets go of the listener fails the reload at "
    "the deadline, named in the error",
    "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "5"}};
  h.inspector.release_at = {{101, 1020}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  nginx.set_confirm_deadline_ms(300);
  std::string err;
  int64_t elapsed = -1;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5, but old "
        "nginx workers still listen (pids 102), expected 5 after 300ms");
  CHECK(elapsed == 300);
  CHECK(h.inspector.targets.size() == 1);
}

TEST_CASE(
    "when nginx's processes cannot be inspected the settle time confirms, "
    "and only a failure says why",
    "[reload_switch]") {
  Harness h;
  h.inspector.find_error =
      "no process found holding the socket listening on 127.0.0.1:8080";
  h.answers = {
      {true, 200, "4"}, {true, 200, "4"}, {true, 200, "4"}, {true, 200, "5"}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err.empty());
  // As without an inspector: first new answer at 15 ms, plus 200 ms.
  CHECK(elapsed == 215);
  CHECK(h.Probes() == 44);
  CHECK_FALSE(nginx.last_confirmed_exactly());
  CHECK(h.inspector.checked.empty());

  h.answers = {{true, 200, "5"}};
  nginx.set_confirm_deadline_ms(100);
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5, expected 6 "
        "after 100ms (confirming by the settle time: no process found holding "
        "the socket listening on 127.0.0.1:8080)");
}

TEST_CASE(
    "unrelated processes holding the listener, or a master without workers, "
    "are not trusted and the settle time confirms",
    "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "5"}};
  h.inspector.before.holders = {{100, 1, 7000}, {300, 1, 7300}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  nginx.set_confirm_deadline_ms(50);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5 for only "
        "50ms of the 200ms settle time, expected 5 after 50ms (confirming by "
        "the settle time: processes 100, 300 all hold the socket listening on "
        "127.0.0.1:8080 and none is the parent of the others)");

  h.inspector.before.holders = {{100, 1, 7000}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5 for only "
        "50ms of the 200ms settle time, expected 5 after 50ms (confirming by "
        "the settle time: process 100 holds the socket listening on "
        "127.0.0.1:8080 but none of its children does)");

  int64_t elapsed = -1;
  nginx.set_confirm_deadline_ms(5000);
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 200);
  CHECK_FALSE(nginx.last_confirmed_exactly());
  CHECK(h.inspector.checked.empty());
}

TEST_CASE(
    "a different master or no new worker after the reload falls back to "
    "the settle time counted from the first new answer",
    "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.release_at = {{101, 1100}, {102, 1100}};
  h.inspector.after.holders = {{200, 1, 9000}, {201, 200, 9001}};
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  // Old workers gone at 100 ms, the master too: 200 ms after the first new
  // answer at 5 ms.
  CHECK(elapsed == 205);
  CHECK_FALSE(nginx.last_confirmed_exactly());

  h.answers = {{true, 200, "4"}, {true, 200, "6"}};
  h.clock.SetNowMs(1000);
  nginx.set_confirm_deadline_ms(150);
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 6 for only "
        "145ms of the 200ms settle time, expected 6 after 150ms (confirming by "
        "the settle time: after the reload, master 100 no longer holds the "
        "socket listening on 127.0.0.1:8080)");

  h.inspector.after.holders = {{100, 1, 7000}, {102, 100, 7002}};
  h.answers = {{true, 200, "4"}, {true, 200, "7"}};
  h.inspector.release_at = {{101, 0}, {102, 0}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 7, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 7 for only "
        "145ms of the 200ms settle time, expected 7 after 150ms (confirming by "
        "the settle time: after the reload, no new child of master 100 holds "
        "the socket listening on 127.0.0.1:8080)");
}

TEST_CASE(
    "an old worker whose descriptors cannot be read falls back to the "
    "settle time",
    "[reload_switch]") {
  Harness h;
  h.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.still_error = "cannot read /proc/101/fd: Permission denied";
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 205);
  CHECK(h.inspector.checked == std::vector<int>{101});
  CHECK_FALSE(nginx.last_confirmed_exactly());

  nginx.set_confirm_deadline_ms(10);
  h.answers = {{true, 200, "5"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5, expected 6 "
        "after 10ms (confirming by the settle time: after the reload, cannot "
        "read /proc/101/fd: Permission denied)");
}

TEST_CASE("a failing config test never looks at nginx's processes",
          "[reload_switch]") {
  Harness h;
  h.runner.Script("nginx-test", RunResult{1, false, ""});
  ReloadSwitch nginx = h.Make(/*inspect=*/true);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: exit code 1");
  CHECK(h.inspector.targets.empty());
}

TEST_CASE(
    "the reload switch says rejected when nginx refused the file and it is "
    "back, unknown when nginx may take the new file now or at its next start",
    "[reload_switch]") {
  TrafficSplit split;
  split.stable = {{"127.0.0.1", 8081}};
  split.canary = {{"127.0.0.1", 8082}};
  split.canary_weight = 10;
  split.generation = 5;
  {
    Harness h;
    h.fs.files[kUpstreamFile] = "old";
    h.runner.Script("nginx-test", RunResult{1, false, "bad"});
    SwitchResult r = h.Make().Apply(split);
    CHECK(r.outcome == SwitchOutcome::kRejected);
    CHECK(r.error == "nginx config test failed: bad");
    CHECK(h.fs.files[kUpstreamFile] == "old");
  }
  {
    Harness h;
    h.fs.files[kUpstreamFile] = "old";
    h.runner.Script("nginx-reload", RunResult{1, false, "no master"});
    SwitchResult r = h.Make().Apply(split);
    CHECK(r.outcome == SwitchOutcome::kUnknown);
    CHECK(r.error == "nginx reload failed: no master");
    CHECK(h.fs.files[kUpstreamFile] ==
          RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 5));
  }
  {
    Harness h;
    h.fs.files[kUpstreamFile] = "old";
    h.runner.Script("nginx-reload", RunResult{-1, true, ""});
    ReloadSwitch nginx = h.Make();
    nginx.set_command_timeout_ms(100);
    SwitchResult r = nginx.Apply(split);
    CHECK(r.outcome == SwitchOutcome::kUnknown);
    CHECK(r.error == "nginx reload failed: timed out after 100ms");
  }
  {
    Harness h;
    h.answers = {{false, 0, "connection refused"}};
    ReloadSwitch nginx = h.Make();
    nginx.set_confirm_deadline_ms(20);
    SwitchResult r = nginx.Apply(split);
    CHECK(r.outcome == SwitchOutcome::kUnknown);
    CHECK(r.error ==
          "nginx reload not confirmed: probe failed: connection refused, "
          "expected 5 after 20ms");
    CHECK(h.fs.files[kUpstreamFile] ==
          RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 5));
  }
  {
    Harness h;
    h.answers = {{true, 200, "5"}};
    SwitchResult r = h.Make().Apply(split);
    CHECK(r.outcome == SwitchOutcome::kConfirmed);
    CHECK(r.error == "");
    CHECK(r.confirmed_by == "settle");
    CHECK(r.elapsed_ms == 200);
  }
}

}  // namespace
}  // namespace bgctl
