// End-to-end tests of the shipped nginx template and of ReloadSwitch::Apply
// against a real nginx (tests/support/nginx_fixture.h) in front of small
// in-process httplib backends.
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "controller/env.h"
#include "controller/reload_switch.h"
#include "controller/sockets.h"
#include "tests/support/http_backend.h"
#include "tests/support/nginx_fixture.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {
namespace {

using Backend = HttpBackend;

// Sends threads x per_thread requests (GET /, each over a new connection)
// from `threads` concurrent clients; counts the answers by body, and
// anything other than a 200 as "failed".
std::map<std::string, int> CountAnswers(int port, int threads, int per_thread) {
  std::mutex mu;
  std::map<std::string, int> counts;
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        Reply r = Fetch(port, "/");
        std::lock_guard<std::mutex> lock(mu);
        counts[r.status == 200 ? r.body : "failed"]++;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  return counts;
}

using Counts = std::map<std::string, int>;

// The non-empty lines of the file.
std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(ReadWholeFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Waits (up to 3 s) until the file has at least `n` lines; returns them.
std::vector<std::string> WaitForLines(const std::string& path, size_t n) {
  std::vector<std::string> lines;
  for (int i = 0; i < 300; ++i) {
    lines = Lines(path);
    if (lines.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return lines;
}

// nginx's access log line (escape=json) parsed; a discarded value when it
// is not JSON.
nlohmann::json ParseJson(const std::string& line) {
  return nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
}

Env TestEnv() { return RealEnv(); }

// Waits (up to 3 s) until nginx has exactly `n` workers, so that workers of
// an older generation have exited; returns their pids.
std::vector<pid_t> WaitForWorkers(const NginxFixture& nginx, size_t n) {
  std::vector<pid_t> pids;
  for (int i = 0; i < 300; ++i) {
    pids = nginx.WorkerPids();
    if (pids.size() == n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pids;
}

const char kName[] = "bgctl_e2e";

TEST_CASE(
    "nginx starts from the shipped template in a temporary prefix and "
    "answers 502 and generation 0 before the first deploy",
    "[nginx_e2e]") {
  int placeholder_port = PickFreePort();
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, placeholder_port, &err));
  INFO(err);
  // The script wrote exactly the text the controller renders.
  CHECK(ReadWholeFile(nginx.upstream_file()) ==
        RenderPlaceholderUpstream(kName, placeholder_port));
  CHECK(WaitForWorkers(nginx, 2).size() == 2);

  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  uint64_t generation = 99;
  REQUIRE(ctl.ProbeGeneration(&generation, &err));
  CHECK(generation == 0);
  CHECK(ctl.Test(&err));

  Reply reply = Fetch(nginx.port(), "/");
  CHECK(reply.status == 502);
  // The probe is not logged; the 502 is, with the upstream group's name as
  // its address because no server was tried.
  std::vector<std::string> lines = WaitForLines(nginx.access_log_path(), 1);
  REQUIRE(lines.size() == 1);
  nlohmann::json j = ParseJson(lines[0]);
  CHECK(j["status"] == 502);
  CHECK(j["upstream_addr"] == kName);
  CHECK(j["upstream_status"] == "502");
}

TEST_CASE(
    "an apply moves all traffic from one backend to another and the "
    "probe confirms each generation",
    "[nginx_e2e]") {
  Backend a("A"), b("B");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, a.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());

  int64_t elapsed = -1;
  REQUIRE(ctl.Apply({{a.port(), 100}}, 1, &err, &elapsed));
  CHECK(elapsed >= 0);
  CHECK(elapsed < 5000);
  std::vector<pid_t> workers_1 = WaitForWorkers(nginx, 2);
  // Right after the confirmation, from 4 concurrent clients: no new
  // connection may reach a worker of the previous generation.
  CHECK(CountAnswers(nginx.port(), 4, 10) == Counts{{"A", 40}});

  REQUIRE(ctl.Apply({{b.port(), 100}}, 2, &err, &elapsed));
  CHECK(CountAnswers(nginx.port(), 4, 10) == Counts{{"B", 40}});
  uint64_t generation = 0;
  REQUIRE(ctl.ProbeGeneration(&generation, &err));
  CHECK(generation == 2);
  // The access log agrees: 40 lines for A, then 40 for B.
  std::vector<std::string> lines = WaitForLines(nginx.access_log_path(), 80);
  REQUIRE(lines.size() == 80);
  for (size_t i = 0; i < lines.size(); ++i) {
    int port = i < 40 ? a.port() : b.port();
    CHECK(ParseJson(lines[i])["upstream_addr"] ==
          "127.0.0.1:" + std::to_string(port));
  }
  // The reload replaced the workers (old ones may still be exiting).
  std::vector<pid_t> workers_2 = nginx.WorkerPids();
  for (pid_t pid : workers_1) {
    CHECK(std::count(workers_2.begin(), workers_2.end(), pid) == 0);
  }
}

TEST_CASE("access-log lines are JSON with every documented field",
          "[nginx_e2e]") {
  Backend a("A");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, a.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  REQUIRE(ctl.Apply({{a.port(), 100}}, 1, &err));

  double before = TestEnv().clock->WallMs() / 1000.0;
  CHECK(Fetch(nginx.port(), "/hello?x=1").status == 200);
  CHECK(Fetch(nginx.port(), "/q%22b%5Cs").status == 200);  // /q"b\s
  CHECK(Fetch(nginx.port(), "/submit", "POST").status == 200);
  std::vector<std::string> lines = WaitForLines(nginx.access_log_path(), 3);
  double after = TestEnv().clock->WallMs() / 1000.0;
  REQUIRE(lines.size() == 3);

  std::vector<pid_t> workers = WaitForWorkers(nginx, 2);
  const std::set<std::string> kFields = {"msec",
                                         "pid",
                                         "method",
                                         "uri",
                                         "status",
                                         "request_time",
                                         "upstream_addr",
                                         "upstream_status",
                                         "upstream_response_time",
                                         "bytes_sent",
                                         "time"};
  std::vector<std::string> methods, uris;
  for (const std::string& line : lines) {
    INFO(line);
    nlohmann::json j = ParseJson(line);
    REQUIRE(j.is_object());
    std::set<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
    CHECK(keys == kFields);
    REQUIRE(j["msec"].is_number());
    CHECK(j["msec"].get<double>() >= before - 1);
    CHECK(j["msec"].get<double>() <= after + 1);
    REQUIRE(j["pid"].is_number_integer());
    CHECK(std::count(workers.begin(), workers.end(), j["pid"].get<int>()) == 1);
    CHECK(j["status"] == 200);
    REQUIRE(j["request_time"].is_number());
    CHECK(j["request_time"].get<double>() >= 0);
    CHECK(j["upstream_addr"] == "127.0.0.1:" + std::to_string(a.port()));
    CHECK(j["upstream_status"] == "200");
    REQUIRE(j["upstream_response_time"].is_string());
    CHECK(std::regex_match(j["upstream_response_time"].get<std::string>(),
                           std::regex(R"(\d+\.\d{3})")));
    REQUIRE(j["bytes_sent"].is_number_integer());
    CHECK(j["bytes_sent"].get<int>() > 0);
    REQUIRE(j["time"].is_string());
    CHECK(std::regex_match(
        j["time"].get<std::string>(),
        std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")));
    methods.push_back(j["method"]);
    uris.push_back(j["uri"]);
  }
  CHECK(methods == std::vector<std::string>{"GET", "GET", "POST"});
  // $uri: decoded, without the query string; escape=json keeps it valid.
  CHECK(uris == std::vector<std::string>{"/hello", "/q\"b\\s", "/submit"});
}

// The line of nginx.conf holding `needle`, counted from 1 (0: none).
int LineOf(const std::string& path, const std::string& needle) {
  std::istringstream in(ReadWholeFile(path));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(needle) != std::string::npos) return n;
  }
  return 0;
}

std::string RegexEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

TEST_CASE(
    "a failing nginx config test leaves the previous upstream file byte "
    "for byte and traffic unaffected",
    "[nginx_e2e]") {
  Backend a("A"), b("B");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, a.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  REQUIRE(ctl.Apply({{a.port(), 100}}, 1, &err));
  std::string before = ReadWholeFile(nginx.upstream_file());
  std::vector<pid_t> workers = WaitForWorkers(nginx, 2);

  // A misconfigured upstream name: nginx.conf proxies to kName, which the
  // new file no longer defines, so `nginx -t` fails.
  ReloadSwitch wrong(nginx.MakeConfig("renamed_backend"), nginx.prefix(),
                     TestEnv());
  CHECK_FALSE(wrong.Apply({{b.port(), 100}}, 2, &err));
  // nginx logs to stderr in its full format (time, pid), hence a pattern.
  std::string conf = nginx.nginx_conf();
  std::string expected =
      "nginx config test failed: \\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d "
      "\\[emerg\\] \\d+#\\d+: host not found in upstream \"" +
      std::string(kName) + "\" in " + RegexEscape(conf) + ":" +
      std::to_string(LineOf(conf, "proxy_pass")) +
      "\nnginx: configuration file " + RegexEscape(conf) + " test failed";
  INFO(err);
  CHECK(std::regex_match(err, std::regex(expected)));
  CHECK(ReadWholeFile(nginx.upstream_file()) == before);

  // Never reloaded: same workers, same generation, same backend.
  CHECK(nginx.WorkerPids() == workers);
  uint64_t generation = 0;
  REQUIRE(ctl.ProbeGeneration(&generation, &err));
  CHECK(generation == 1);
  for (int i = 0; i < 20; ++i) {
    Reply r = Fetch(nginx.port(), "/");
    REQUIRE(r.status == 200);
    CHECK(r.body == "A");
  }
  // And the restored file still passes.
  CHECK(ctl.Test(&err));
}

TEST_CASE(
    "with a zone, 10% on the canary is exactly 100 of 1000 requests "
    "through two nginx workers",
    "[nginx_e2e]") {
  Backend stable("S"), canary("C");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, stable.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  REQUIRE(
      ctl.Apply(ServersForSplit(stable.port(), canary.port(), 10), 1, &err));
  REQUIRE(WaitForWorkers(nginx, 2).size() == 2);

  // 4 clients x 250 requests, each over a new connection, so both workers
  // accept. The zone makes the smooth weighted round robin one shared
  // sequence (period 100, 10 canary picks per period), and every request is
  // one pick: the count is exact, tolerance 0.
  CHECK(CountAnswers(nginx.port(), 4, 250) == Counts{{"C", 100}, {"S", 900}});

  std::vector<std::string> lines = WaitForLines(nginx.access_log_path(), 1000);
  REQUIRE(lines.size() == 1000);
  std::map<int, int> per_worker;
  for (const std::string& line : lines) {
    per_worker[ParseJson(line)["pid"].get<int>()]++;
  }
  std::string spread;
  for (const auto& [pid, n] : per_worker) {
    spread += std::to_string(pid) + ":" + std::to_string(n) + " ";
  }
  INFO("requests per worker: " << spread);
  CHECK(per_worker.size() == 2);
}

TEST_CASE(
    "a GET answered 503 is retried once on the other server but a POST "
    "is not",
    "[nginx_e2e]") {
  Backend failing("F", 503), good("G");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, good.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  std::string f = "127.0.0.1:" + std::to_string(failing.port());
  std::string g = "127.0.0.1:" + std::to_string(good.port());
  // Equal weights: the first pick after a reload (which resets the zone) is
  // the first server listed, the failing one.
  std::vector<UpstreamServer> split = {{failing.port(), 50}, {good.port(), 50}};

  REQUIRE(ctl.Apply(split, 1, &err));
  Reply post = Fetch(nginx.port(), "/", "POST");
  CHECK(post.status == 503);
  CHECK(post.body == "F");

  REQUIRE(ctl.Apply(split, 2, &err));
  Reply get = Fetch(nginx.port(), "/");
  CHECK(get.status == 200);
  CHECK(get.body == "G");

  std::vector<std::string> lines = WaitForLines(nginx.access_log_path(), 2);
  REQUIRE(lines.size() == 2);
  nlohmann::json p = ParseJson(lines[0]), q = ParseJson(lines[1]);
  CHECK(p["method"] == "POST");
  CHECK(p["upstream_addr"] == f);
  CHECK(p["upstream_status"] == "503");
  CHECK(q["method"] == "GET");
  CHECK(q["upstream_addr"] == f + ", " + g);
  CHECK(q["upstream_status"] == "503, 200");
  CHECK(q["status"] == 200);
}

TEST_CASE(
    "after an exactly confirmed apply, 50 new connections in a row all "
    "answer the new generation and no old worker still listens",
    "[nginx_e2e]") {
  Backend a("A"), b("B");
  NginxFixture nginx;
  std::string err;
  REQUIRE(nginx.Start(kName, a.port(), &err));
  ReloadSwitch ctl(nginx.MakeConfig(kName), nginx.prefix(), TestEnv());
  SocketInspector* inspector = RealSocketInspector();
  for (uint64_t generation = 1; generation <= 5; ++generation) {
    INFO("generation " << generation);
    Listener before;
    REQUIRE(inspector->FindListener("127.0.0.1", nginx.port(), &before, &err));
    int64_t elapsed = -1;
    int port = generation % 2 == 1 ? a.port() : b.port();
    REQUIRE(ctl.Apply({{port, 100}}, generation, &err, &elapsed));
    CHECK(ctl.last_confirmed_exactly());
    CHECK(WrongGenerations(nginx.port(), generation, 50) == 0);
    // Only the master is left of the processes that listened before.
    Listener after;
    REQUIRE(inspector->FindListener("127.0.0.1", nginx.port(), &after, &err));
    int kept = 0;
    for (const SocketHolder& h : after.holders) {
      for (const SocketHolder& old : before.holders) {
        if (h.pid == old.pid) {
          ++kept;
          CHECK(h.pid == nginx.master_pid());
        }
      }
    }
    CHECK(kept == 1);
    CHECK(after.holders.size() == 3);  // the master and two new workers
    Reply reply = Fetch(nginx.port(), "/");
    CHECK(reply.status == 200);
    CHECK(reply.body == (port == a.port() ? "A" : "B"));
  }
}

}  // namespace
}  // namespace bgctl::testing
