#include "controller/nginx.h"

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
  Nginx Make() {
    Env env;
    env.clock = &clock;
    env.fs = &fs;
    env.processes = &runner;
    env.http = &probe;
    return Nginx(cfg, "/srv/demo", env);
  }
  NginxConfig cfg;
  FakeClock clock;
  FakeFs fs;
  FakeRunner runner;
  FakeProbe probe;
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

}  // namespace
}  // namespace bgctl
