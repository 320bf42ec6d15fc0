// End-to-end tests of backend-sample (real processes on free ports) and of
// the shared helpers in tests/support.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/load.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

// One backend-sample process with its stderr in a temp folder. Members are
// destroyed in reverse order: the process dies before its folder goes.
struct Backend {
  TempDir dir;
  int port = 0;
  int64_t started_ms = 0;
  std::unique_ptr<ChildProcess> proc;

  std::string log_path() const { return dir.Path("backend.log"); }
  std::string log() const { return ReadWholeFile(log_path()); }

  // Starts `--port P --version V extra...` and waits for its "listening"
  // line. Retries with another port if a parallel test took the one picked.
  bool Start(const std::string& version,
             const std::vector<std::string>& extra = {},
             const std::map<std::string, std::string>& env = {}) {
    for (int attempt = 0; attempt < 3; attempt++) {
      port = PickFreePort();
      std::vector<std::string> argv = {BACKEND_SAMPLE_BIN, "--port",
                                       std::to_string(port), "--version",
                                       version};
      argv.insert(argv.end(), extra.begin(), extra.end());
      ChildOptions options;
      options.env = env;
      options.stderr_path = log_path();
      std::string err;
      proc = std::make_unique<ChildProcess>();
      started_ms = NowMs();
      if (!proc->Start(argv, options, &err)) {
        UNSCOPED_INFO(err);
        return false;
      }
      if (WaitForFileContains(log_path(), "backend-sample: listening on",
                              5000)) {
        return true;
      }
      proc->WaitExit(1000, nullptr);
      if (log().find("Address already in use") == std::string::npos) break;
    }
    UNSCOPED_INFO("backend did not start: " << log());
    return false;
  }

  std::unique_ptr<httplib::Client> Client(bool keep_alive = true) const {
    auto cli = std::make_unique<httplib::Client>("127.0.0.1", port);
    cli->set_keep_alive(keep_alive);
    cli->set_connection_timeout(3, 0);
    cli->set_read_timeout(10, 0);
    return cli;
  }
};

nlohmann::json Json(const httplib::Result& res) {
  return res ? nlohmann::json::parse(res->body, nullptr, false)
             : nlohmann::json();
}

// True once `pid` is gone or a zombie (dead, waiting for its reaper).
bool ProcessGone(int pid, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (stat.empty() || (paren != std::string::npos &&
                         paren + 2 < stat.size() && stat[paren + 2] == 'Z')) {
      return true;
    }
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST_CASE("GET / answers the version, the slot from BGCTL_SLOT and the pid",
          "[backend_sample]") {
  Backend with_slot, without_slot;
  REQUIRE(with_slot.Start("v1.2-rc_3", {}, {{"BGCTL_SLOT", "green"}}));
  REQUIRE(without_slot.Start("v9"));

  auto res = with_slot.Client()->Get("/");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "{\"version\":\"v1.2-rc_3\",\"slot\":\"green\",\"pid\":" +
                         std::to_string(with_slot.proc->pid()) + "}\n");
  res = without_slot.Client()->Get("/");
  REQUIRE(res);
  CHECK(res->body == "{\"version\":\"v9\",\"slot\":null,\"pid\":" +
                         std::to_string(without_slot.proc->pid()) + "}\n");
  res = without_slot.Client()->Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Json(res)["status"] == "ok");
}

TEST_CASE("POST / and POST /work answer with the length of the body",
          "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1"));
  auto cli = b.Client();
  auto res = cli->Post("/", std::string(1234, 'x'), "text/plain");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Json(res)["received"] == 1234);
  res = cli->Post("/work?ms=20", "hello", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Json(res)["received"] == 5);
  CHECK(Json(res)["slept_ms"] == 20);
  res = cli->Get("/work?ms=abc");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(Json(res)["error"] == "ms: expected an integer from 0 to 600000");
}

TEST_CASE(
    "a 3-second /work request in flight when SIGTERM arrives gets its 200, "
    "and the process exits 0 shortly after",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1"));
  auto health = b.Client(true);
  auto res = health->Get("/healthz");
  REQUIRE(res);
  REQUIRE(res->status == 200);

  auto work_cli = b.Client(true);
  int64_t work_start = NowMs();
  auto work = std::async(std::launch::async,
                         [&] { return work_cli->Get("/work?ms=3000"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(b.proc->Signal(SIGTERM));
  REQUIRE(WaitForFileContains(b.log_path(), "draining", 2000));

  // An idle keep-alive connection still gets an answer: 503, and "close".
  res = health->Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(res->get_header_value("Connection") == "close");
  CHECK(Json(res)["status"] == "draining");

  // A new connection is refused (maybe after one SYN retransmit).
  auto fresh = b.Client(false)->Get("/");
  CHECK_FALSE(fresh);
  if (!fresh) CHECK(fresh.error() == httplib::Error::Connection);

  REQUIRE(work.wait_for(std::chrono::seconds(6)) == std::future_status::ready);
  res = work.get();
  int64_t answered = NowMs();
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Json(res)["slept_ms"] == 3000);
  CHECK(res->get_header_value("Connection") == "close");
  CHECK(answered - work_start >= 3000);

  int status = -1;
  REQUIRE(b.proc->WaitExit(2000, &status));
  int64_t exited = NowMs();
  CHECK(ExitCode(status) == 0);
  CHECK(exited - answered < 1000);
  std::string log = b.log();
  CHECK_THAT(log, Catch::Contains("backend-sample: got SIGTERM\n"
                                  "backend-sample: draining (1 in flight)\n"));
  CHECK(std::regex_search(log, std::regex("backend-sample: drained in \\d+ ms\n"
                                          "backend-sample: exit 0\n$")));
}

TEST_CASE(
    "SIGTERM under load on keep-alive and fresh connections, GET and POST, "
    "loses no accepted request",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1", {"--drain-timeout", "10s"}));
  LoadOptions quick;
  quick.port = b.port;
  quick.threads = 8;
  quick.keep_alive_share = 0.5;
  quick.post_share = 0.5;
  quick.duration_ms = 8000;
  quick.timeout_ms = 4000;
  LoadOptions slow = quick;  // requests that are in flight for a while
  slow.threads = 4;
  slow.path = "/work?ms=200";
  LoadGenerator quick_load(quick), slow_load(slow);
  quick_load.Start();
  slow_load.Start();
  int64_t deadline = NowMs() + 5000;
  while ((quick_load.Finished() < 300 || slow_load.Finished() < 8) &&
         NowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int64_t sigterm_at = NowMs();
  REQUIRE(b.proc->Signal(SIGTERM));
  int status = -1;
  REQUIRE(b.proc->WaitExit(8000, &status));
  CHECK(ExitCode(status) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  LoadReport q = quick_load.Stop();
  LoadReport s = slow_load.Stop();

  for (const LoadReport* r : {&q, &s}) {
    INFO("sent " << r->sent << ", ok " << r->ok << ", refused " << r->refused
                 << ", mid-request " << r->mid_request << ", p99 " << r->p99_ms
                 << " ms");
    for (const auto& f : r->failures) UNSCOPED_INFO(f);
    CHECK(r->mid_request == 0);
    CHECK(r->non2xx == 0);
    CHECK(r->sent == r->ok + r->refused);
    CHECK(r->ok >= 8);
    CHECK(r->refused > 0);  // the load went on after the exit
    CHECK(r->per_version == std::map<std::string, int64_t>{{"v1", r->ok}});
    // Every kind of request got through before the drain.
    std::set<std::pair<bool, bool>> kinds;
    for (const RequestRecord& rec : r->records) {
      if (rec.status == 200) kinds.insert({rec.keep_alive, rec.post});
    }
    CHECK(kinds.size() == 4);
  }
  // Slow requests in flight at SIGTERM were answered during the drain.
  int64_t sigterm_rel = sigterm_at - slow_load.started_at_ms();
  int answered_in_drain = 0;
  for (const RequestRecord& rec : s.records) {
    if (rec.status == 200 && rec.start_ms < sigterm_rel &&
        rec.start_ms + rec.latency_ms > sigterm_rel + 5) {
      answered_in_drain++;
    }
  }
  CHECK(answered_in_drain >= 1);
  CHECK_THAT(b.log(), Catch::Contains("backend-sample: exit 0\n"));
}

TEST_CASE(
    "SIGINT drains too, and an idle keep-alive connection is closed cleanly "
    "after a one-second grace",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1"));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(b.port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(send(fd, request.data(), request.size(), 0) ==
          static_cast<ssize_t>(request.size()));
  std::string response;  // headers and body may come in two segments
  char buf[4096];
  ssize_t n = 1;
  for (int i = 0; i < 10 && n > 0 && !Catch::EndsWith("}\n").match(response);
       i++) {
    n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) response.append(buf, n);
  }
  CHECK_THAT(response, Catch::StartsWith("HTTP/1.1 200 OK\r\n") &&
                           Catch::EndsWith("}\n"));

  // Let the server finish its bookkeeping for that request.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int64_t sigint_at = NowMs();
  REQUIRE(b.proc->Signal(SIGINT));
  int status = -1;
  REQUIRE(b.proc->WaitExit(3000, &status));
  int64_t took = NowMs() - sigint_at;
  CHECK(ExitCode(status) == 0);
  CHECK(took >= 1000);  // the idle connection had its grace
  CHECK(took < 2500);   // grace 1 s + linger 0.5 s + exit
  errno = 0;
  n = recv(fd, buf, sizeof(buf), 0);
  CHECK(n == 0);  // a FIN, not a reset
  CHECK(errno == 0);
  close(fd);
  CHECK_THAT(b.log(),
             Catch::Contains("backend-sample: got SIGINT\n"
                             "backend-sample: draining (0 in flight)\n"));
}

TEST_CASE(
    "a request longer than --drain-timeout makes the process exit 1 at about "
    "the timeout",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1", {"--drain-timeout", "1s"}));
  auto cli = b.Client(true);
  auto work =
      std::async(std::launch::async, [&] { return cli->Get("/work?ms=5000"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int64_t sigterm_at = NowMs();
  REQUIRE(b.proc->Signal(SIGTERM));
  int status = -1;
  REQUIRE(b.proc->WaitExit(4000, &status));
  int64_t took = NowMs() - sigterm_at;
  CHECK(ExitCode(status) == 1);
  CHECK(took >= 950);
  CHECK(took < 2000);
  CHECK(std::regex_search(
      b.log(), std::regex("backend-sample: drain timeout after 1\\d\\d\\d ms "
                          "with 1 in flight, exit 1\n$")));
  auto res = work.get();
  CHECK_FALSE(res);  // the process died before answering
}

TEST_CASE(
    "a port in use is an error naming the port, even when the holder allows "
    "SO_REUSEPORT",
    "[backend_sample]") {
  int port = PickFreePort();
  REQUIRE(port > 0);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(fd, 16) == 0);
  std::string p = std::to_string(port);
  CommandResult r =
      RunCommand({BACKEND_SAMPLE_BIN, "--port", p, "--version", "v1"}, 5000);
  close(fd);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "backend-sample: cannot listen on 127.0.0.1:" + p +
                     ": Address already in use\n");

  Backend first;
  REQUIRE(first.Start("v1"));
  p = std::to_string(first.port);
  r = RunCommand({BACKEND_SAMPLE_BIN, "--port", p, "--version", "v2"}, 5000);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "backend-sample: cannot listen on 127.0.0.1:" + p +
                     ": Address already in use\n");
  auto res = first.Client()->Get("/");  // the first one still answers
  REQUIRE(res);
  CHECK(Json(res)["version"] == "v1");
}

TEST_CASE(
    "the --error-rate switch answers 500 on that share of / and /work, never "
    "on /healthz",
    "[backend_sample]") {
  Backend always, some;
  REQUIRE(always.Start("v1", {"--error-rate", "1"}));
  REQUIRE(some.Start("v1", {"--error-rate", "0.3"}));
  auto cli = always.Client();
  std::map<std::string, std::map<int, int>> statuses;
  for (int i = 0; i < 20; i++) {
    for (const char* path : {"/", "/work?ms=0", "/healthz"}) {
      auto res = cli->Get(path);
      statuses[path][res ? res->status : 0]++;
    }
  }
  CHECK(statuses["/"] == std::map<int, int>{{500, 20}});
  CHECK(statuses["/work?ms=0"] == std::map<int, int>{{500, 20}});
  CHECK(statuses["/healthz"] == std::map<int, int>{{200, 20}});

  // 1000 requests at p = 0.3: mean 300, standard deviation 14.5. Accept
  // 300 +- 72 (5 standard deviations; a false failure once in ~2 million).
  LoadOptions o;
  o.port = some.port;
  o.threads = 4;
  o.keep_alive_share = 1;
  o.max_requests = 1000;
  o.duration_ms = 15000;
  LoadGenerator load(o);
  load.Start();
  REQUIRE(load.Wait(15000));
  LoadReport r = load.Stop();
  INFO("500s: " << r.non2xx << " of " << r.sent);
  CHECK(r.sent == 1000);
  CHECK(r.errors == 0);
  CHECK(r.ok + r.non2xx == 1000);
  CHECK(r.per_status[500] == r.non2xx);
  CHECK(r.non2xx >= 228);
  CHECK(r.non2xx <= 372);
  CHECK(r.per_version["v1"] == 1000);  // a 500 still names its version
}

TEST_CASE(
    "the --extra-latency switch delays every response but the health check",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1", {"--extra-latency", "200ms"}));
  auto cli = b.Client();
  auto timed = [&](const char* path, int* status) {
    int64_t start = NowMs();
    auto res = cli->Get(path);
    *status = res ? res->status : 0;
    return NowMs() - start;
  };
  for (int i = 0; i < 3; i++) {
    int status = 0;
    int64_t root = timed("/", &status);
    CHECK(status == 200);
    int64_t work = timed("/work?ms=100", &status);
    CHECK(status == 200);
    int64_t health = timed("/healthz", &status);
    CHECK(status == 200);
    INFO("/ " << root << " ms, /work?ms=100 " << work << " ms, /healthz "
              << health << " ms");
    CHECK(root >= 200);
    CHECK(root < 600);
    CHECK(work >= 300);
    CHECK(work < 700);
    CHECK(health < 200);  // not delayed by the 200 ms
  }
}

TEST_CASE(
    "the --unhealthy switch makes /healthz answer 503 while / answers 200",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1", {"--unhealthy"}));
  auto cli = b.Client();
  auto res = cli->Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(Json(res)["status"] == "unhealthy");
  res = cli->Get("/");
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE(
    "the --crash-after switch makes the process exit 70 on its own at about "
    "that time",
    "[backend_sample]") {
  Backend b;
  REQUIRE(b.Start("v1", {"--crash-after", "1s"}));
  int status = -1;
  REQUIRE(b.proc->WaitExit(4000, &status));
  int64_t took = NowMs() - b.started_ms;
  CHECK(ExitCode(status) == 70);
  CHECK(took >= 1000);
  CHECK(took < 2500);
  CHECK_THAT(b.log(),
             Catch::EndsWith("backend-sample: crash-after elapsed (1000 ms), "
                             "exit 70\n"));
}

TEST_CASE("bad flags exit 2 with a message naming the flag",
          "[backend_sample]") {
  const std::string usage = "\nRun with --help for usage.\n";
  struct Case {
    std::vector<std::string> args;
    std::string message;  // the first stderr line, after "backend-sample: "
  };
  std::vector<Case> cases = {
      {{"--port", "0", "--version", "v1"},
       "--port: expected a port number from 1 to 65535, got \"0\""},
      {{"--port", "70000", "--version", "v1"},
       "--port: expected a port number from 1 to 65535, got \"70000\""},
      {{"--port", "http", "--version", "v1"},
       "--port: expected a port number from 1 to 65535, got \"http\""},
      {{"--port", "8081", "--version", "v 1"},
       "--version: expected 1-64 characters of [A-Za-z0-9._-], got \"v 1\""},
      {{"--port", "8081", "--version", "v1", "--drain-timeout", "5x"},
       "--drain-timeout: bad duration \"5x\": expected a number and a unit "
       "(ms, s, m, h)"},
      {{"--port", "8081", "--version", "v1", "--extra-latency", "10"},
       "--extra-latency: bad duration \"10\": expected a number and a unit "
       "(ms, s, m, h)"},
      {{"--port", "8081", "--version", "v1", "--crash-after", "soon"},
       "--crash-after: bad duration \"soon\": expected a number and a unit "
       "(ms, s, m, h)"},
      {{"--port", "8081", "--version", "v1", "--error-rate", "1.5"},
       "--error-rate: expected a number from 0 to 1, got \"1.5\""},
      {{"--port", "8081", "--version", "v1", "--error-rate", "-0.1"},
       "--error-rate: expected a number from 0 to 1, got \"-0.1\""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BACKEND_SAMPLE_BIN};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = RunCommand(argv, 5000);
    INFO(c.message);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "backend-sample: " + c.message + usage);
    CHECK(r.out.empty());
  }
  // Messages from the flag parser (CLI11): the flag is named.
  std::vector<std::pair<std::vector<std::string>, std::string>> parser = {
      {{"--port", "8081", "--version", "v1", "--bogus"}, "--bogus"},
      {{"--port", "8081"}, "--version is required"},
      {{"--version", "v1"}, "--port is required"},
      {{"--port", "8081", "--version", "v1", "--drain-timeout"},
       "--drain-timeout"},
  };
  for (const auto& [args, needle] : parser) {
    std::vector<std::string> argv = {BACKEND_SAMPLE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv, 5000);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("backend-sample: ") &&
                          Catch::Contains(needle) && Catch::EndsWith(usage));
  }
  CommandResult help = RunCommand({BACKEND_SAMPLE_BIN, "--help"}, 5000);
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--drain-timeout DURATION"));
}

// ---- tests/support ---------------------------------------------------------

TEST_CASE(
    "a ChildProcess guard kills the child's whole process group, "
    "grandchildren included",
    "[backend_sample][test_support]") {
  TempDir dir;
  REQUIRE(dir.ok());
  std::string pid_file = dir.Path("grandchild.pid");
  int child_pid = 0;
  {
    ChildProcess child;
    std::string err;
    REQUIRE(
        child.Start({"sh", "-c", "sleep 30 & echo $! > " + pid_file + "; wait"},
                    ChildOptions{}, &err));
    child_pid = child.pid();
    REQUIRE(WaitForFileContains(pid_file, "\n", 3000));
    CHECK(child.Running());
  }
  int grandchild = std::stoi(ReadWholeFile(pid_file));
  CHECK(ProcessGone(child_pid, 2000));
  CHECK(ProcessGone(grandchild, 2000));
}

TEST_CASE(
    "a ChildProcess reports its exit status, gets its env and cwd, and logs "
    "to a file",
    "[backend_sample][test_support]") {
  TempDir dir;
  ChildProcess child;
  ChildOptions options;
  options.env = {{"GREETING", "hello"}};
  options.cwd = dir.path();
  options.stdout_path = dir.Path("out.log");
  options.stderr_path = dir.Path("out.log");
  std::string err;
  REQUIRE(
      child.Start({"sh", "-c", "echo $GREETING; pwd; echo oops >&2; exit 7"},
                  options, &err));
  int status = -1;
  REQUIRE(child.WaitExit(3000, &status));
  CHECK(ExitCode(status) == 7);
  CHECK_FALSE(child.Running());
  CHECK_FALSE(child.Signal(SIGTERM));
  CHECK(ReadWholeFile(dir.Path("out.log")) ==
        "hello\n" + dir.path() + "\noops\n");

  ChildProcess missing;
  CHECK_FALSE(missing.Start({"/nonexistent/prog"}, ChildOptions{}, &err));
  CHECK(err == "cannot run /nonexistent/prog: No such file or directory");
}

TEST_CASE(
    "RunCommand captures stdout and stderr apart and kills a command at its "
    "timeout",
    "[backend_sample][test_support]") {
  CommandResult r =
      RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5000);
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.timed_out);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  int64_t start = NowMs();
  r = RunCommand({"sleep", "10"}, 300);
  CHECK(r.timed_out);
  CHECK(r.exit_code == -1);
  CHECK(NowMs() - start < 2000);

  r = RunCommand({"sh", "-c", "kill -TERM $$"}, 5000);
  CHECK(r.exit_code == 128 + SIGTERM);
}

TEST_CASE(
    "PickFreePort gives distinct bindable ports below the ephemeral range",
    "[backend_sample][test_support]") {
  int ephemeral_low = 0;
  std::istringstream(ReadWholeFile("/proc/sys/net/ipv4/ip_local_port_range")) >>
      ephemeral_low;
  REQUIRE(ephemeral_low > 10000);
  std::set<int> ports;
  for (int i = 0; i < 20; i++) {
    int port = PickFreePort();
    CHECK(port >= 10000);
    CHECK(port < ephemeral_low);
    ports.insert(port);
  }
  CHECK(ports.size() == 20);
  CHECK_FALSE(WaitForPort(*ports.begin(), 50));
}

TEST_CASE(
    "a LoadGenerator stops at max_requests, keeps its rate, and counts "
    "refusals apart from lost requests",
    "[backend_sample][test_support]") {
  Backend b;
  REQUIRE(b.Start("v7"));
  LoadOptions o;
  o.port = b.port;
  o.threads = 3;
  o.max_requests = 50;
  o.post_share = 0.5;
  LoadGenerator counted(o);
  counted.Start();
  REQUIRE(counted.Wait(5000));
  LoadReport r = counted.Stop();
  CHECK(r.sent == 50);
  CHECK(r.ok == 50);
  CHECK(r.per_version == std::map<std::string, int64_t>{{"v7", 50}});
  int posts = 0;
  for (const RequestRecord& rec : r.records) posts += rec.post ? 1 : 0;
  CHECK(posts >= 23);  // half of each thread's requests, rounded down
  CHECK(posts <= 27);
  CHECK(r.p50_ms <= r.p99_ms);

  o.max_requests = 0;
  o.rate = 100;
  o.duration_ms = 1000;
  LoadGenerator paced(o);
  paced.Start();
  REQUIRE(paced.Wait(3000));
  r = paced.Stop();
  CHECK(r.sent >= 90);
  CHECK(r.sent <= 101);

  o.port = PickFreePort();  // nothing listens there
  o.rate = 0;
  o.duration_ms = 300;
  LoadGenerator refused(o);
  refused.Start();
  REQUIRE(refused.Wait(3000));
  r = refused.Stop();
  CHECK(r.sent > 0);
  CHECK(r.refused == r.sent);
  CHECK(r.mid_request == 0);
  REQUIRE_FALSE(r.failures.empty());
  CHECK_THAT(r.failures[0], Catch::EndsWith(": error Connection"));
}

}  // namespace
}  // namespace bgctl::testing
