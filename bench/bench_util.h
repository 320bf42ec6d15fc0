// Small helpers shared by the deploy benchmarks (bench/deploy_under_load.cc,
// bench/bad_canary.cc). Header-only: every bench/*.cc is its own executable.
//
// Times are steady-clock milliseconds. A LoadReport's RequestRecord::start_ms
// counts from LoadGenerator::started_at_ms(); the helpers take windows in
// that same origin.
#ifndef BGCTL_BENCH_BENCH_UTIL_H_
#define BGCTL_BENCH_BENCH_UTIL_H_

#include <fcntl.h>
#include <httplib.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controller/process.h"
#include "controller/sockets.h"
#include "tests/support/load.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

namespace bgctl::bench {

inline double NowMsExact() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t NowMs() { return static_cast<int64_t>(NowMsExact()); }

inline void SleepMs(double ms) {
  if (ms > 0)
    std::this_thread::sleep_for(
        std::chrono::microseconds(static_cast<int64_t>(ms * 1000)));
}

// Nearest-rank percentile (p in 0..1) of `v`; 0 when empty.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * v.size()));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

inline double Median(const std::vector<double>& v) {
  return Percentile(v, 0.5);
}

// The requests of a load report that started in [from_ms, to_ms).
struct Slice {
  int64_t sent = 0;
  int64_t ok = 0;
  int64_t non2xx = 0;       // complete responses, status not 2xx
  int64_t refused = 0;      // connection errors before anything was sent
  int64_t mid_request = 0;  // connection errors after (part of) the request
  std::vector<double> latencies;  // of complete responses
  double p50 = 0, p99 = 0, max = 0;
  int64_t errors() const { return refused + mid_request; }
  int64_t failed() const { return non2xx + errors(); }
};

inline void AddToSlice(const testing::RequestRecord& r, Slice* s) {
  s->sent++;
  if (r.status == 0) {
    (r.refused ? s->refused : s->mid_request)++;
    return;
  }
  (r.status / 100 == 2 ? s->ok : s->non2xx)++;
  s->latencies.push_back(r.latency_ms);
}

inline void FinishSlice(Slice* s) {
  s->p50 = Percentile(s->latencies, 0.50);
  s->p99 = Percentile(s->latencies, 0.99);
  s->max = s->latencies.empty()
               ? 0
               : *std::max_element(s->latencies.begin(), s->latencies.end());
}

// Several windows of one report pooled into one slice.
inline Slice SliceOf(const testing::LoadReport& report,
                     const std::vector<std::pair<int64_t, int64_t>>& windows) {
  Slice s;
  for (const testing::RequestRecord& r : report.records) {
    for (const auto& [from, to] : windows) {
      if (r.start_ms >= from && r.start_ms < to) {
        AddToSlice(r, &s);
        break;
      }
    }
  }
  FinishSlice(&s);
  return s;
}

// One GET over a new connection to 127.0.0.1:port; the body, or "" with
// *status 0 on a connection error.
inline std::string GetFresh(int port, const std::string& path, int* status) {
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(false);
  c.set_connection_timeout(1);
  c.set_read_timeout(2);
  auto res = c.Get(path.c_str());
  *status = res ? res->status : 0;
  return res ? res->body : "";
}

// The inodes of the sockets listening on `port`, from entries read by
// controller/sockets.h.
inline std::vector<uint64_t> InodesOnPort(
    const std::vector<ListenEntry>& entries, int port) {
  std::vector<uint64_t> inodes;
  for (const ListenEntry& e : entries)
    if (e.port == port) inodes.push_back(e.inode);
  return inodes;
}

// The inodes of the sockets listening on IPv4 `port`, read from
// /proc/net/tcp (whose size grows with every TIME_WAIT socket).
inline std::vector<uint64_t> ListenerInodes(int port) {
  return InodesOnPort(
      ParseListenSockets(testing::ReadWholeFile("/proc/net/tcp"), false), port);
}

// The same asked of the kernel over netlink sock_diag, as `ss -lt` does:
// only listening sockets are walked. Empty on error.
inline std::vector<uint64_t> ListenerInodesNetlink(int port) {
  std::vector<ListenEntry> entries;
  if (!NetlinkListenSockets(AF_INET, &entries)) return {};
  return InodesOnPort(entries, port);
}

// Lines in /proc/net/tcp (every TCP socket, TIME_WAIT included): reading it
// costs time in proportion.
inline size_t ProcNetTcpLines() {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  size_t n = 0;
  while (std::getline(f, line)) n++;
  return n > 0 ? n - 1 : 0;
}

// True when process `pid` is running and has a descriptor open on one of
// `inodes` (controller/sockets.h's check, the one bgctl uses).
inline bool HoldsSocket(int pid, const std::vector<uint64_t>& inodes) {
  SocketHolder holder;
  holder.pid = pid;
  if (!ReadStartTime(pid, &holder.start_time)) return false;
  bool holds = false;
  std::string err;
  return RealSocketInspector()->StillHolds(holder, inodes, &holds, &err) &&
         holds;
}

// Runs argv (argv[0] an absolute path) with stdin, stdout and stderr on
// /dev/null and waits for it, as a shell script would: posix_spawn (vfork, so
// cheap even from a big multi-threaded process) and a blocking waitpid; no
// polling delay. Returns the exit code, 128 + N for signal N, or -1 if it
// could not start.
inline int RunQuiet(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd : {0, 1, 2})
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return testing::ExitCode(status);
}

// A bgctl command run to completion with --output json.
struct BgctlRun {
  int exit_code = -1;
  int64_t launched_ms = 0;  // steady clock, just before the fork
  int64_t wall_ms = 0;      // until it exited
  nlohmann::json doc;       // the JSON document (null if unparsable)
  std::string out, err;
};

inline BgctlRun RunBgctlJson(testing::Service* svc,
                             const std::vector<std::string>& args,
                             const std::string& config = "") {
  std::vector<std::string> argv = {"--output", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  BgctlRun run;
  run.launched_ms = NowMs();
  testing::CommandResult r = svc->Bgctl(argv, config);
  run.wall_ms = NowMs() - run.launched_ms;
  run.exit_code = r.exit_code;
  run.out = r.out;
  run.err = r.err;
  run.doc = nlohmann::json::parse(r.out, nullptr, false);
  if (run.doc.is_discarded()) run.doc = nullptr;
  return run;
}

// The events of kind `kind` in a bgctl JSON document.
inline std::vector<nlohmann::json> Events(const nlohmann::json& doc,
                                          const std::string& kind) {
  std::vector<nlohmann::json> out;
  if (!doc.is_object() || !doc.contains("events")) return out;
  for (const nlohmann::json& e : doc["events"])
    if (e.value("event", "") == kind) out.push_back(e);
  return out;
}

// The traffic switches (nginx.switch) the deploy benchmarks run bgctl on,
// in their rows' order. The one place that knows what a switch needs.
inline const std::vector<std::string>& BgctlSwitches() {
  static const std::vector<std::string> kSwitches = {"reload", "lua"};
  return kSwitches;
}

// The shipped nginx.conf template rendered as scripts/nginx-prefix.sh does,
// with nginx's default client keep-alive (75 s) instead of the shipped
// `keepalive_timeout 0` when `client_keepalive`.
inline std::string ShippedNginxConf(int port, const std::string& upstream,
                                    bool client_keepalive) {
  std::string text = testing::ReadWholeFile(std::string(BGCTL_SOURCE_DIR) +
                                            "/nginx/nginx.conf.template");
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  };
  replace_all("@LISTEN_PORT@", std::to_string(port));
  replace_all("@UPSTREAM_NAME@", upstream);
  if (client_keepalive)
    replace_all("keepalive_timeout 0;", "keepalive_timeout 75s;");
  return text;
}

// Sets up `o` for a bgctl service on `switch_name` (one of BgctlSwitches()),
// with nginx's client keep-alive on or off. The lua switch runs from the
// shipped nginx-lua.conf.template, whose client keep-alive is always on.
inline void UseSwitch(const std::string& switch_name, bool client_keepalive,
                      testing::ServiceOptions* o) {
  o->nginx_switch = switch_name;
  if (client_keepalive && switch_name != "lua")
    o->nginx_conf = [](int port) {
      return ShippedNginxConf(port, "svc", true);
    };
}

inline std::string Ratio(double a, double b) {
  if (b <= 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fx", a / b);
  return buf;
}

}  // namespace bgctl::bench

#endif  // BGCTL_BENCH_BENCH_UTIL_H_
