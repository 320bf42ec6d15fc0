// Benchmark: are healthy canaries rolled back when nginx is saturated by
// keep-alive clients (issue 16, item 9)? And why.
//
//   build/bench/keepalive_judge [--deploys 6] [--connections 32]
//       [--threads 2] [--switch reload,lua] [--upstream-keepalive 0]
//       [--backend sample|python] [--keep DIR]
//
// For each switch (nginx.switch, BgctlSwitches() in bench_util.h): one real
// nginx (the shipped template with client keep-alive on; the lua template
// for lua), two slots running identical code (backend-sample, or with
// --backend python the stdlib ThreadingHTTPServer of bench/py_backend.py:
// a thread per connection, the GIL, a listen backlog of 5), v1 deployed,
// then wrk -tT -cC (keep-alive connections, a real outside client) for the
// whole run and --deploys deploys of the same code with the steps 10% 1 s,
// 50% 1 s, 100%, the sequential judge at its defaults. Counted per switch:
// deploys rolled back (exit 3), and why.
//
// Then the access log is split per deploy and step (from bgctl's weight
// events: from the start of the step's switch to the next one) into requests
// served by the workers of the step's own configuration and by older workers
// (nginx's $pid: a worker is "new" in a step when its first line in the log
// comes after the step's switch began; on the lua switch no worker is
// replaced), and per slot: requests, p50 and p90 of $upstream_response_time.
// "judge" lines give the latency test's threshold (stable's p90 of
// $request_time plus the default margin) and the canary's share over it,
// over all of the step's lines and over the new workers' only. The summary
// per switch: canary p50 / stable p50 among the requests the step's own
// workers served in the 50% step (median over deploys), and the older
// workers' share of that step. --keep copies nginx's logs and bgctl's state
// of a switch that rolled a deploy back.
#include <dirent.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "controller/access_log.h"

namespace bgctl::bench {
namespace {

using testing::ChildOptions;
using testing::ChildProcess;
using testing::Service;
using testing::ServiceOptions;

double WallMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  int deploys = 6;
  int connections = 32;
  int threads = 2;
  std::vector<std::string> switches;
  int upstream_keepalive = 0;
  std::string backend = "sample";
  std::string keep;  // a folder for nginx's logs of a run with a rollback
};

// One step of one deploy: when nginx was asked to switch and when it was
// confirmed (wall ms), and the weight.
struct Step {
  int weight = 0;
  double switch_start_ms = 0, confirmed_ms = 0, end_ms = 0;
};

struct Deploy {
  int exit_code = -1;
  std::string reason;
  std::string canary_port;
  std::vector<Step> steps;
};

// Latencies of one group of requests.
struct Group {
  std::vector<double> upstream_ms;
  std::vector<double> request_ms;  // $request_time, what the judge reads
  void Add(double upstream, double request) {
    upstream_ms.push_back(upstream);
    request_ms.push_back(request);
  }
  std::string Text() const {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%5zu req p50 %5.1f p90 %5.1f",
                  upstream_ms.size(), Percentile(upstream_ms, 0.5),
                  Percentile(upstream_ms, 0.9));
    return buf;
  }
};

// The bgctl.yaml lines of --backend python: the same script in both slots.
std::string PythonBackendConfig(const std::string& text) {
  const std::string script =
      std::string(BGCTL_SOURCE_DIR) + "/bench/py_backend.py";
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("  command: ", 0) == 0)
      line = "  command: [python3, \"" + script +
             "\", --port, \"{port}\", --version, \"{version}\"]";
    out += line + "\n";
  }
  return out;
}

// Stops (SIGKILL) the py_backend.py processes serving the slot ports when
// it goes out of scope: Service stops only backend-sample's.
class PythonBackends {
 public:
  explicit PythonBackends(const Service& svc)
      : ports_{std::to_string(svc.blue()), std::to_string(svc.green())} {}
  ~PythonBackends() {
    DIR* d = opendir("/proc");
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
      const int pid = std::atoi(e->d_name);
      if (pid > 0 && Serves(pid)) kill(pid, SIGKILL);
    }
    closedir(d);
  }
  PythonBackends(const PythonBackends&) = delete;
  PythonBackends& operator=(const PythonBackends&) = delete;

 private:
  bool Serves(int pid) const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> argv;
    for (std::string a; std::getline(f, a, '\0');) argv.push_back(a);
    if (argv.size() < 2 ||
        argv[1].find("/bench/py_backend.py") == std::string::npos)
      return false;
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == "--port" &&
          (argv[i + 1] == ports_[0] || argv[i + 1] == ports_[1]))
        return true;
    return false;
  }
  std::string ports_[2];
};

Deploy RunDeploy(Service* svc, const std::string& version) {
  Deploy d;
  const double launched = WallMs();
  BgctlRun run = RunBgctlJson(svc, {"deploy", "--version", version});
  d.exit_code = run.exit_code;
  if (run.doc.is_object() && run.doc.contains("error"))
    d.reason = run.doc["error"].get<std::string>();
  for (const nlohmann::json& e : Events(run.doc, "weight")) {
    Step s;
    s.weight = e.value("weight", 0);
    s.confirmed_ms = launched + e.value("t_ms", 0.0);
    s.switch_start_ms = s.confirmed_ms - e.value("switch_ms", 0.0);
    if (!d.steps.empty()) d.steps.back().end_ms = s.switch_start_ms;
    d.steps.push_back(s);
  }
  if (!d.steps.empty()) d.steps.back().end_ms = launched + run.wall_ms;
  for (const nlohmann::json& e : Events(run.doc, "started"))
    d.canary_port = std::to_string(
        e.value("slot", "") == "blue" ? svc->blue() : svc->green());
  return d;
}

// The port a log line's request ended on ("" when none).
std::string PortOf(const LogRecord& r) {
  UpstreamList list(r.upstream_addr);
  std::string_view entry, last;
  while (list.Next(&entry)) last = entry;
  size_t colon = last.rfind(':');
  return colon == std::string_view::npos ? ""
                                         : std::string(last.substr(colon + 1));
}

double LastNumber(std::string_view list) {
  UpstreamList l(list);
  std::string_view entry, last;
  while (l.Next(&entry)) last = entry;
  return std::atof(std::string(last).c_str());
}

struct StepReport {
  Group canary_new, stable_new, canary_old, stable_old;
};

// The judge's latency test in effect: tau from stable's p90 of
// $request_time (default margins: 25% or 10 ms, the larger), and the share
// of canary requests above it, over `stable` and `canary`.
std::string JudgeView(const std::vector<double>& stable,
                      const std::vector<double>& canary) {
  const double p90 = Percentile(stable, 0.9);
  const double tau = std::max(p90 * 1.25, p90 + 10);
  size_t over = 0;
  for (double ms : canary) over += ms > tau;
  char buf[96];
  std::snprintf(buf, sizeof(buf), "tau %6.1f ms, canary over it %5.1f%%", tau,
                canary.empty() ? 0.0 : 100.0 * over / canary.size());
  return buf;
}

std::vector<double> Joined(const std::vector<double>& a,
                           const std::vector<double>& b) {
  std::vector<double> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Group Merged(const Group& a, const Group& b) {
  Group g;
  g.upstream_ms = Joined(a.upstream_ms, b.upstream_ms);
  g.request_ms = Joined(a.request_ms, b.request_ms);
  return g;
}

// Splits the access log into the steps of `deploys`.
std::vector<std::vector<StepReport>> Split(const std::string& log_path,
                                           const std::vector<Deploy>& deploys) {
  std::vector<std::vector<StepReport>> out(deploys.size());
  for (size_t i = 0; i < deploys.size(); ++i)
    out[i].resize(deploys[i].steps.size());
  std::map<int64_t, double> first_seen;  // worker pid -> first line, wall ms
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line)) {
    LogRecord r;
    if (!ParseLogLine(line, &r)) continue;
    const double end_ms = r.msec * 1000;
    auto [it, fresh] = first_seen.emplace(r.pid, end_ms);
    const std::string port = PortOf(r);
    for (size_t i = 0; i < deploys.size(); ++i) {
      for (size_t k = 0; k < deploys[i].steps.size(); ++k) {
        const Step& s = deploys[i].steps[k];
        if (end_ms < s.switch_start_ms || end_ms >= s.end_ms) continue;
        const bool is_new = it->second >= s.switch_start_ms;
        const bool canary = port == deploys[i].canary_port;
        StepReport& rep = out[i][k];
        Group& g = canary ? (is_new ? rep.canary_new : rep.canary_old)
                          : (is_new ? rep.stable_new : rep.stable_old);
        g.Add(LastNumber(r.upstream_response_time) * 1000,
              r.request_time_s * 1000);
      }
    }
  }
  return out;
}

bool RunSwitch(const Options& opt, const std::string& sw) {
  Service svc;
  ServiceOptions o;
  o.steps = "[{weight: 10, pause: 1s}, {weight: 50, pause: 1s}, {weight: 100}]";
  o.analysis = "{}";
  UseSwitch(sw, /*client_keepalive=*/true, &o);
  if (opt.upstream_keepalive > 0)
    o.nginx_extra =
        "  upstream_keepalive: " + std::to_string(opt.upstream_keepalive) +
        "\n";
  std::string err;
  if (!svc.Start(o, &err)) {
    std::fprintf(stderr, "keepalive_judge: %s\n", err.c_str());
    return false;
  }
  PythonBackends python(svc);  // stopped last, whatever happens
  if (opt.backend == "python")
    testing::WriteWholeFile(
        svc.config_path(),
        PythonBackendConfig(testing::ReadWholeFile(svc.config_path())));
  testing::CommandResult v1 = svc.Bgctl({"deploy", "--version", "v1"});
  if (v1.exit_code != 0) {
    std::fprintf(stderr, "keepalive_judge: v1: %s\n", v1.err.c_str());
    return false;
  }
  ChildProcess wrk;
  ChildOptions co;
  co.stdout_path = svc.dir() + "/wrk.out";
  const int seconds = 10 + opt.deploys * 6;
  if (!wrk.Start({"wrk", "-t" + std::to_string(opt.threads),
                  "-c" + std::to_string(opt.connections),
                  "-d" + std::to_string(seconds) + "s",
                  "http://127.0.0.1:" + std::to_string(svc.port()) + "/"},
                 co, &err)) {
    std::fprintf(stderr, "keepalive_judge: wrk: %s\n", err.c_str());
    return false;
  }
  SleepMs(2000);  // wrk and the backends at their steady rate
  std::vector<Deploy> deploys;
  for (int i = 0; i < opt.deploys; ++i) {
    deploys.push_back(RunDeploy(&svc, "v" + std::to_string(i + 2)));
    SleepMs(500);
  }
  wrk.Kill();
  std::vector<std::vector<StepReport>> steps =
      Split(svc.nginx().access_log_path(), deploys);
  int rolled_back = 0;
  // Per deploy, the 50% step: canary p50 / stable p50 of the requests the
  // step's own workers served, and the older workers' share of the step.
  std::vector<double> p50_ratio, old_share, old_stable;
  std::printf("switch %s, wrk -t%d -c%d, backend %s, upstream keepalive %d\n",
              sw.c_str(), opt.threads, opt.connections, opt.backend.c_str(),
              opt.upstream_keepalive);
  for (size_t i = 0; i < deploys.size(); ++i) {
    const Deploy& d = deploys[i];
    rolled_back += d.exit_code == 3;
    std::printf("  deploy %zu: exit %d%s%s\n", i + 1, d.exit_code,
                d.reason.empty() ? "" : ": ", d.reason.substr(0, 160).c_str());
    for (size_t k = 0; k < d.steps.size(); ++k) {
      const StepReport& r = steps[i][k];
      std::printf(
          "    %3d%% new workers: canary %s | stable %s\n"
          "         old workers: canary %s | stable %s\n",
          d.steps[k].weight, r.canary_new.Text().c_str(),
          r.stable_new.Text().c_str(), r.canary_old.Text().c_str(),
          r.stable_old.Text().c_str());
      if (d.steps[k].weight == 50) {
        // On the lua switch no worker is replaced: all of them serve the
        // new split at once, whenever they first wrote a line.
        const bool reload = sw == "reload";
        const Group c =
            reload ? r.canary_new : Merged(r.canary_new, r.canary_old);
        const Group st =
            reload ? r.stable_new : Merged(r.stable_new, r.stable_old);
        p50_ratio.push_back(Percentile(c.upstream_ms, 0.5) /
                            std::max(0.5, Percentile(st.upstream_ms, 0.5)));
        const double old = reload ? r.canary_old.upstream_ms.size() +
                                        r.stable_old.upstream_ms.size()
                                  : 0;
        const double all = old + r.canary_new.upstream_ms.size() +
                           r.stable_new.upstream_ms.size();
        if (reload && all > 0) {
          old_share.push_back(old / all);
          old_stable.push_back(old > 0 ? r.stable_old.upstream_ms.size() / old
                                       : 0);
        }
      }
      if (d.steps[k].weight == 100) continue;
      std::printf(
          "         judge, all workers: %s; new workers only: %s\n",
          JudgeView(Joined(r.stable_new.request_ms, r.stable_old.request_ms),
                    Joined(r.canary_new.request_ms, r.canary_old.request_ms))
              .c_str(),
          JudgeView(r.stable_new.request_ms, r.canary_new.request_ms).c_str());
    }
  }
  std::printf(
      "switch %s: %d of %zu deploys rolled back; 50%% step, median of "
      "deploys: canary p50 / stable p50 (upstream time, the step's own "
      "workers) %.2f",
      sw.c_str(), rolled_back, deploys.size(), Median(p50_ratio));
  if (!old_share.empty())
    std::printf(
        "; older workers served %.0f%% of the step, %.0f%% of it on "
        "stable",
        100 * Median(old_share), 100 * Median(old_stable));
  std::printf("\n\n");
  if (rolled_back > 0 && !opt.keep.empty()) {
    const std::string to = opt.keep + "/" + sw;
    RunQuiet({"/bin/mkdir", "-p", to});
    RunQuiet({"/bin/cp", "-r", svc.nginx().prefix() + "/logs",
              svc.dir() + "/state", to + "/"});
    std::printf("nginx's logs and bgctl's state copied to %s\n", to.c_str());
  }
  return true;
}

}  // namespace
}  // namespace bgctl::bench

int main(int argc, char** argv) {
  CLI::App app{"healthy canaries under keep-alive saturation, per switch"};
  bgctl::bench::Options o;
  std::string switches = "reload,lua";
  app.add_option("--deploys", o.deploys)->check(CLI::Range(1, 50));
  app.add_option("--connections", o.connections)->check(CLI::Range(1, 512));
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 16));
  app.add_option("--switch", switches);
  app.add_option("--upstream-keepalive", o.upstream_keepalive);
  app.add_option("--backend", o.backend)
      ->check(CLI::IsMember({"sample", "python"}));
  app.add_option("--keep", o.keep,
                 "copy nginx's logs here when a deploy was rolled back");
  CLI11_PARSE(app, argc, argv);
  std::stringstream ss(switches);
  for (std::string s; std::getline(ss, s, ',');) o.switches.push_back(s);
  for (const std::string& sw : o.switches)
    if (!bgctl::bench::RunSwitch(o, sw)) return 1;
  return 0;
}
