#include "controller/nginx.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <deque>
#include <functional>
#include <map>

namespace bgctl {
namespace {

class FakeClock : public Clock {
 public:
  int64_t NowMs() override { return now; }
  int64_t WallMs() override { return 1700000000000 + now; }
  void SleepMs(int64_t ms) override { now += ms; }
  int64_t now = 1000;
};

class FakeFs : public FileSystem {
 public:
  bool ReadFile(const std::string& path, std::string* contents,
                std::string* err) override {
    auto it = files.find(path);
    if (it == files.end()) {
      *err = "cannot read " + path + ": No such file or directory";
      return false;
    }
    *contents = it->second;
    return true;
  }
  bool Exists(const std::string& path) override { return files.count(path); }
  bool WriteFileAtomic(const std::string& path, const std::string& contents,
                       std::string* err, int) override {
    if (fail_writes) {
      *err = "cannot write " + path + ": Read-only file system";
      return false;
    }
    files[path] = contents;
    ++writes;
    return true;
  }
  bool AppendLine(const std::string&, const std::string&,
                  std::string* err) override {
    *err = "not supported";
    return false;
  }
  bool MakeDirs(const std::string&, int, std::string*) override { return true; }
  bool Remove(const std::string& path, std::string*) override {
    files.erase(path);
    return true;
  }
  std::map<std::string, std::string> files;
  int writes = 0;
  bool fail_writes = false;
};

// Runs nothing: answers each command with the result registered for its
// argv[0], and records what it was asked and what the upstream file held.
class FakeRunner : public ProcessRunner {
 public:
  bool Spawn(const SpawnSpec&, ProcessId*, std::string* err) override {
    *err = "not supported";
    return false;
  }
  bool IsAlive(const ProcessId&) override { return false; }
  bool Signal(const ProcessId&, int, std::string* err) override {
    *err = "not supported";
    return false;
  }
  bool CpuTimeMs(const ProcessId&, int64_t*) override { return false; }
  bool Run(const std::vector<std::string>& argv, const std::string& workdir,
           int64_t timeout_ms, RunResult* out, std::string*) override {
    calls.push_back(argv);
    workdirs.push_back(workdir);
    timeouts.push_back(timeout_ms);
    if (fs != nullptr) file_during_run.push_back(fs->files[watched]);
    auto it = results.find(argv[0]);
    *out = it == results.end() ? RunResult{0, false, ""} : it->second;
    return true;
  }
  std::map<std::string, RunResult> results;
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> workdirs;
  std::vector<int64_t> timeouts;
  FakeFs* fs = nullptr;
  std::string watched;
  std::vector<std::string> file_during_run;
};

// Answers probes from a script; the last answer repeats for ever.
struct ProbeAnswer {
  bool ok;
  int status;
  std::string body;
};

class FakeProbe : public HttpProbe {
 public:
  bool Get(const std::string& host, int port, const std::string& path,
           int64_t timeout_ms, HttpResponse* out, std::string* err) override {
    ++calls;
    last_target = host + ":" + std::to_string(port) + path;
    last_timeout_ms = timeout_ms;
    ProbeAnswer a = answers.front();
    if (answers.size() > 1) answers.pop_front();
    if (!a.ok) {
      *err = a.body;
      return false;
    }
    out->status = a.status;
    out->body = a.body;
    return true;
  }
  std::deque<ProbeAnswer> answers{{true, 200, "0"}};
  int calls = 0;
  std::string last_target;
  int64_t last_timeout_ms = 0;
};

// Plays nginx's processes around a reload: until the reload command runs,
// master 100 and old workers 101 and 102 hold the listener (inode 555);
// each old worker holds it until the fake clock reaches its release time;
// once the reload command ran, the master and new workers 103 and 104 do.
class FakeInspector : public SocketInspector {
 public:
  FakeInspector(FakeClock* clock, FakeRunner* runner)
      : clock_(clock), runner_(runner) {}
  bool FindListener(const std::string& host, int port, Listener* out,
                    std::string* err) override {
    targets.push_back(host + ":" + std::to_string(port));
    commands_run_at_find.push_back(runner_->calls.size());
    if (!find_error.empty()) {
      *err = find_error;
      return false;
    }
    bool reloaded =
        !runner_->calls.empty() && runner_->calls.back()[0] == "nginx-reload";
    *out = reloaded ? after : before;
    return true;
  }
  bool StillHolds(const SocketHolder& process,
                  const std::vector<uint64_t>& inodes, bool* holds,
                  std::string* err) override {
    checked.push_back(process.pid);
    if (inodes != std::vector<uint64_t>{555}) {
      *err = "wrong inodes";
      return false;
    }
    if (!still_error.empty()) {
      *err = still_error;
      return false;
    }
    auto it = release_at.find(process.pid);
    *holds = it == release_at.end() || clock_->now < it->second;
    return true;
  }
  Listener before{{555}, {{100, 1, 7000}, {101, 100, 7001}, {102, 100, 7002}}};
  Listener after{{555}, {{100, 1, 7000}, {103, 100, 8003}, {104, 100, 8004}}};
  std::map<int, int64_t> release_at;  // fake clock time; absent: never
  std::string find_error;
  std::string still_error;
  std::vector<std::string> targets;
  std::vector<size_t> commands_run_at_find;
  std::vector<int> checked;  // pids passed to StillHolds, in order

 private:
  FakeClock* clock_;
  FakeRunner* runner_;
};

const char kUpstreamFile[] = "/srv/demo/nginx/run/upstream.conf";

struct Harness {
  Harness() {
    cfg.upstream_file = kUpstreamFile;
    cfg.upstream_name = "demo_backend";
    cfg.test_command = {"nginx-test", "-t"};
    cfg.reload_command = {"nginx-reload", "-s", "reload"};
    cfg.probe_url = "http://127.0.0.1:8080/__bgctl/generation";
    cfg.probe_host = "127.0.0.1";
    cfg.probe_port = 8080;
    cfg.probe_path = "/__bgctl/generation";
    runner.fs = &fs;
    runner.watched = kUpstreamFile;
  }
  // Without `inspect`, Nginx has no socket inspector: the settle time only.
  Nginx Make(bool inspect = false) {
    Env env;
    env.clock = &clock;
    env.fs = &fs;
    env.processes = &runner;
    env.http = &probe;
    Nginx nginx(cfg, "/srv/demo", env);
    nginx.set_socket_inspector(inspect ? &inspector : nullptr);
    return nginx;
  }
  NginxConfig cfg;
  FakeClock clock;
  FakeFs fs;
  FakeRunner runner;
  FakeProbe probe;
  FakeInspector inspector{&clock, &runner};
};

std::string Describe(const std::vector<UpstreamServer>& servers) {
  std::string s;
  for (const UpstreamServer& u : servers) {
    s += std::to_string(u.port) + "@" + std::to_string(u.weight) + " ";
  }
  return s;
}

TEST_CASE(
    "the upstream file renders servers in order with zone, keepalive "
    "and the generation map",
    "[nginx]") {
  std::string text =
      RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 7);
  CHECK(text ==
        "# written by bgctl, generation 7; do not edit\n"
        "upstream demo_backend {\n"
        "    zone demo_backend 64k;\n"
        "    server 127.0.0.1:8081 weight=90;\n"
        "    server 127.0.0.1:8082 weight=10;\n"
        "    keepalive 32;\n"
        "}\n"
        "map $host $bgctl_generation {\n"
        "    default \"7\";\n"
        "}\n");
}

TEST_CASE("the placeholder upstream is generation 0 with its only server down",
          "[nginx]") {
  CHECK(RenderPlaceholderUpstream("svc", 9001) ==
        "# written by bgctl, generation 0; do not edit\n"
        "upstream svc {\n"
        "    zone svc 64k;\n"
        "    server 127.0.0.1:9001 down;\n"
        "    keepalive 32;\n"
        "}\n"
        "map $host $bgctl_generation {\n"
        "    default \"0\";\n"
        "}\n");
}

TEST_CASE(
    "a split is stable only at 0%, both at 10%, canary only at 100% "
    "and canary only when nothing is stable",
    "[nginx]") {
  CHECK(Describe(ServersForSplit(8081, 8082, 0)) == "8081@100 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 10)) == "8081@90 8082@10 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 99)) == "8081@1 8082@99 ");
  CHECK(Describe(ServersForSplit(8081, 8082, 100)) == "8082@100 ");
  CHECK(Describe(ServersForSplit(0, 8082, 10)) == "8082@100 ");
  CHECK(Describe(ServersForSplit(0, 8082, 0)) == "8082@100 ");
}

TEST_CASE(
    "an apply writes, tests, reloads and is confirmed only once the "
    "probe answers the new generation",
    "[nginx]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.probe.answers = {
      {true, 200, "4"}, {true, 200, "4\n"}, {true, 200, "4"}, {true, 200, "5"}};
  Nginx nginx = h.Make();
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 90}, {8082, 10}}, 5, &err, &elapsed));
  CHECK(err.empty());
  std::string expected =
      RenderUpstream("demo_backend", {{8081, 90}, {8082, 10}}, 5);
  CHECK(h.fs.files[kUpstreamFile] == expected);
  REQUIRE(h.runner.calls.size() == 2);
  CHECK(h.runner.calls[0] == h.cfg.test_command);
  CHECK(h.runner.calls[1] == h.cfg.reload_command);
  CHECK(h.runner.workdirs ==
        std::vector<std::string>{"/srv/demo", "/srv/demo"});
  CHECK(h.runner.timeouts == std::vector<int64_t>{30000, 30000});
  // Both commands saw the new file.
  CHECK(h.runner.file_during_run ==
        std::vector<std::string>{expected, expected});
  // Three old answers 5 ms apart, then the new one at 15 ms and for the
  // 200 ms settle time after it: 3 + 41 probes.
  CHECK(h.probe.calls == 44);
  CHECK(h.probe.last_target == "127.0.0.1:8080/__bgctl/generation");
  CHECK(elapsed == 215);
}

TEST_CASE(
    "an old generation answered after the new one starts the settle "
    "time over",
    "[nginx]") {
  Harness h;
  h.probe.answers = {
      {true, 200, "5"}, {true, 200, "5"}, {true, 200, "4"}, {true, 200, "5"}};
  Nginx nginx = h.Make();
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 215);
  CHECK(h.probe.calls == 44);
}

TEST_CASE("without a settle time the first new answer confirms", "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "4"}, {true, 200, "5"}};
  Nginx nginx = h.Make();
  nginx.set_settle_ms(0);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 5);
  CHECK(h.probe.calls == 2);
}

TEST_CASE("a deadline that ends within the settle time is not a confirmation",
          "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "4"}, {true, 200, "5"}};
  Nginx nginx = h.Make();
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
    "[nginx]") {
  Harness h;
  std::string previous = "# hand-made\r\nupstream x { server 1.2.3.4; }\n";
  previous += std::string("\0\xff tail without newline", 22);
  h.fs.files[kUpstreamFile] = previous;
  h.runner.results["nginx-test"] = {
      1, false,
      "\nnginx: [emerg] host not found in upstream \"x\" in /p/nginx.conf:49\n"
      "nginx: configuration file /p/nginx.conf test failed\n"};
  Nginx nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 3, &err));
  CHECK(err ==
        "nginx config test failed: nginx: [emerg] host not found in upstream "
        "\"x\" in /p/nginx.conf:49\n"
        "nginx: configuration file /p/nginx.conf test failed");
  CHECK(h.fs.files[kUpstreamFile] == previous);
  REQUIRE(h.runner.calls.size() == 1);
  CHECK(h.runner.calls[0] == h.cfg.test_command);
  CHECK(h.runner.file_during_run[0] ==
        RenderUpstream("demo_backend", {{8081, 100}}, 3));
  CHECK(h.probe.calls == 0);
}

TEST_CASE("a failing config test with no previous file removes the new one",
          "[nginx]") {
  Harness h;
  h.runner.results["nginx-test"] = {1, false, ""};
  Nginx nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: exit code 1");
  CHECK(h.fs.files.count(kUpstreamFile) == 0);
  CHECK(h.runner.calls.size() == 1);
}

TEST_CASE("a config test that hangs is reported as timed out", "[nginx]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.runner.results["nginx-test"] = {-1, true, ""};
  Nginx nginx = h.Make();
  nginx.set_command_timeout_ms(2000);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: timed out after 2000ms");
  CHECK(h.fs.files[kUpstreamFile] == "old");
  CHECK(h.runner.timeouts == std::vector<int64_t>{2000});
}

TEST_CASE(
    "a failing reload restores the previous file and reports nginx's "
    "output",
    "[nginx]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.runner.results["nginx-reload"] = {
      1, false,
      "nginx: [error] open() \"/p/logs/nginx.pid\" failed (2: No such file or "
      "directory)\n"};
  Nginx nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 2, &err));
  CHECK(err ==
        "nginx reload failed: nginx: [error] open() \"/p/logs/nginx.pid\" "
        "failed (2: No such file or directory)");
  CHECK(h.fs.files[kUpstreamFile] == "old");
  CHECK(h.runner.calls.size() == 2);
  CHECK(h.probe.calls == 0);
}

TEST_CASE(
    "a reload the probe never confirms fails at the deadline with the "
    "last generation it answered",
    "[nginx]") {
  Harness h;
  h.fs.files[kUpstreamFile] = "old";
  h.probe.answers = {{true, 200, "4"}};
  Nginx nginx = h.Make();
  nginx.set_confirm_deadline_ms(100);
  std::string err;
  int64_t elapsed = 0;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 4, expected 5 "
        "after 100ms");
  // Probes at 0, 5, ..., 100 ms.
  CHECK(h.probe.calls == 21);
  CHECK(elapsed == 100);
  // The file passed the test and stays: nginx may be running it already.
  CHECK(h.fs.files[kUpstreamFile] ==
        RenderUpstream("demo_backend", {{8081, 100}}, 5));
}

TEST_CASE(
    "a probe that cannot connect or answers something else is named in "
    "the error",
    "[nginx]") {
  Harness h;
  Nginx nginx = h.Make();
  nginx.set_confirm_deadline_ms(10);
  std::string err;

  h.probe.answers = {{false, 0, "connection refused"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 5, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe failed: connection refused, "
        "expected 5 after 10ms");

  h.probe.answers = {{true, 403, "forbidden"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered HTTP 403, expected 6 "
        "after 10ms");

  h.probe.answers = {{true, 200, "<html>welcome</html>"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 7, &err));
  CHECK(err ==
        "nginx reload not confirmed: probe answered \"<html>welcome</html>\", "
        "not a generation number, expected 7 after 10ms");
}

TEST_CASE("each probe's time limit never reaches past the deadline",
          "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "1"}};
  Nginx nginx = h.Make();
  nginx.set_confirm_deadline_ms(3);
  nginx.set_poll_interval_ms(1);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 2, &err));
  CHECK(h.probe.calls == 4);
  CHECK(h.probe.last_timeout_ms == 1);
}

TEST_CASE("invalid servers are rejected before anything is written",
          "[nginx]") {
  Harness h;
  Nginx nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({}, 1, &err));
  CHECK(err == "invalid upstream: no servers");
  CHECK_FALSE(nginx.Apply({{8081, 100}, {8082, 0}}, 1, &err));
  CHECK(err == "invalid upstream: weight 0 for port 8082 (must be 1-100)");
  CHECK_FALSE(nginx.Apply({{0, 100}}, 1, &err));
  CHECK(err == "invalid upstream: port 0 (must be 1-65535)");
  CHECK(h.fs.writes == 0);
  CHECK(h.runner.calls.empty());
}

TEST_CASE(
    "an upstream file that cannot be written is reported and nothing "
    "runs",
    "[nginx]") {
  Harness h;
  h.fs.fail_writes = true;
  Nginx nginx = h.Make();
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == std::string("cannot write ") + kUpstreamFile +
                   ": Read-only file system");
  CHECK(h.runner.calls.empty());
}

TEST_CASE("the config test alone runs the test command in the config folder",
          "[nginx]") {
  Harness h;
  Nginx nginx = h.Make();
  std::string err;
  CHECK(nginx.Test(&err));
  h.runner.results["nginx-test"] = {1, false, "nginx: [emerg] bad\n"};
  CHECK_FALSE(nginx.Test(&err));
  CHECK(err == "nginx config test failed: nginx: [emerg] bad");
  CHECK(h.runner.calls.size() == 2);
  CHECK(h.runner.workdirs[1] == "/srv/demo");
}

TEST_CASE("the probed generation is read from the running nginx", "[nginx]") {
  Harness h;
  Nginx nginx = h.Make();
  uint64_t generation = 99;
  std::string err;
  h.probe.answers = {{true, 200, "12\n"}};
  REQUIRE(nginx.ProbeGeneration(&generation, &err));
  CHECK(generation == 12);
  h.probe.answers = {{false, 0, "connection refused"}};
  CHECK_FALSE(nginx.ProbeGeneration(&generation, &err));
  CHECK(err ==
        "nginx probe http://127.0.0.1:8080/__bgctl/generation: probe failed: "
        "connection refused");
}

TEST_CASE(
    "a reload is confirmed only once the old workers released the listener, "
    "though the probe answers the new generation before",
    "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.release_at = {{101, 1060}, {102, 1100}};
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err.empty());
  // The probe answered 5 from 5 ms on; worker 102 let go at 100 ms.
  CHECK(elapsed == 100);
  CHECK(h.probe.calls == 21);
  CHECK(nginx.last_confirmed_exactly());
  // Worker 101 was checked at 0, 5, ..., 60 ms, worker 102 until 100 ms.
  CHECK(std::count(h.inspector.checked.begin(), h.inspector.checked.end(),
                   101) == 13);
  CHECK(std::count(h.inspector.checked.begin(), h.inspector.checked.end(),
                   102) == 21);
  CHECK(h.inspector.checked.size() == 34);
  // Looked before the reload command (after the test) and once after.
  CHECK(h.inspector.commands_run_at_find == std::vector<size_t>{1, 2});
  CHECK(h.inspector.targets ==
        std::vector<std::string>{"127.0.0.1:8080", "127.0.0.1:8080"});
}

TEST_CASE(
    "after the old workers let go the probe must still answer the new "
    "generation",
    "[nginx]") {
  Harness h;
  h.probe.answers.assign(30, {true, 200, "4"});  // 0, 5, ..., 145 ms
  h.probe.answers.push_back({true, 200, "5"});
  h.inspector.release_at = {{101, 1050}, {102, 1050}};
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 150);
  CHECK(h.probe.calls == 31);
  CHECK(h.inspector.checked.size() == 22);  // both, at 0, 5, ..., 50 ms
  CHECK(nginx.last_confirmed_exactly());
}

TEST_CASE(
    "an old worker that never lets go of the listener fails the reload at "
    "the deadline, named in the error",
    "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "5"}};
  h.inspector.release_at = {{101, 1020}};
  Nginx nginx = h.Make(/*inspect=*/true);
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
    "[nginx]") {
  Harness h;
  h.inspector.find_error =
      "no process found holding the socket listening on 127.0.0.1:8080";
  h.probe.answers = {
      {true, 200, "4"}, {true, 200, "4"}, {true, 200, "4"}, {true, 200, "5"}};
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(err.empty());
  // As without an inspector: first new answer at 15 ms, plus 200 ms.
  CHECK(elapsed == 215);
  CHECK(h.probe.calls == 44);
  CHECK_FALSE(nginx.last_confirmed_exactly());
  CHECK(h.inspector.checked.empty());

  h.probe.answers = {{true, 200, "5"}};
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
    "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "5"}};
  h.inspector.before.holders = {{100, 1, 7000}, {300, 1, 7300}};
  Nginx nginx = h.Make(/*inspect=*/true);
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
    "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.release_at = {{101, 1100}, {102, 1100}};
  h.inspector.after.holders = {{200, 1, 9000}, {201, 200, 9001}};
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  // Old workers gone at 100 ms, the master too: 200 ms after the first new
  // answer at 5 ms.
  CHECK(elapsed == 205);
  CHECK_FALSE(nginx.last_confirmed_exactly());

  h.probe.answers = {{true, 200, "4"}, {true, 200, "6"}};
  h.clock.now = 1000;
  nginx.set_confirm_deadline_ms(150);
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 6 for only "
        "145ms of the 200ms settle time, expected 6 after 150ms (confirming by "
        "the settle time: after the reload, master 100 no longer holds the "
        "socket listening on 127.0.0.1:8080)");

  h.inspector.after.holders = {{100, 1, 7000}, {102, 100, 7002}};
  h.probe.answers = {{true, 200, "4"}, {true, 200, "7"}};
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
    "[nginx]") {
  Harness h;
  h.probe.answers = {{true, 200, "4"}, {true, 200, "5"}};
  h.inspector.still_error = "cannot read /proc/101/fd: Permission denied";
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  int64_t elapsed = -1;
  REQUIRE(nginx.Apply({{8081, 100}}, 5, &err, &elapsed));
  CHECK(elapsed == 205);
  CHECK(h.inspector.checked == std::vector<int>{101});
  CHECK_FALSE(nginx.last_confirmed_exactly());

  nginx.set_confirm_deadline_ms(10);
  h.probe.answers = {{true, 200, "5"}};
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 6, &err, &elapsed));
  CHECK(err ==
        "nginx reload not confirmed: probe answered generation 5, expected 6 "
        "after 10ms (confirming by the settle time: after the reload, cannot "
        "read /proc/101/fd: Permission denied)");
}

TEST_CASE("a failing config test never looks at nginx's processes", "[nginx]") {
  Harness h;
  h.runner.results["nginx-test"] = {1, false, ""};
  Nginx nginx = h.Make(/*inspect=*/true);
  std::string err;
  CHECK_FALSE(nginx.Apply({{8081, 100}}, 1, &err));
  CHECK(err == "nginx config test failed: exit code 1");
  CHECK(h.inspector.targets.empty());
}

}  // namespace
}  // namespace bgctl
