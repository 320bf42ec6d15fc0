// Benchmark: how fast bgctl reads and windows an nginx access log, compared
// with awk and GoAccess on the same file in the same run.
//
//   build/bench/log_analysis [--lines N] [--runs N]
//
// 1. Streams a realistic access log (bgctl's log format, two upstream ports,
//    some 5xx, retries and "-") of N lines (default 1,000,000, ~220 bytes
//    each) into a fresh temporary folder, which is removed at the end.
// 2. Runs bgctl's reader + judge (LogFollower::Poll -> CanaryJudge::AddLine,
//    Update after every read, as the rollout does) in a fresh single-threaded
//    child process (this binary with --analyse FILE METHOD), for the
//    sequential judge and the window rule, best of --runs runs each; the
//    child's peak RSS comes from wait4().
//    Times are wall clock and, because the machine may be shared, also CPU
//    time (user + system, from wait4) for every contender.
// 3. Runs an awk one-liner computing the same canary requests and errors,
//    and GoAccess with its JSON log format, timing each by wall clock.
// 4. Prints lines/s for each, the ratios, and checks that awk and bgctl
//    counted the same canary requests and errors.
// Every program is started with fork/exec of an argv list, no shell.
// Exit status: 0 when all ran and the counts agree, 1 otherwise.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "controller/access_log.h"
#include "controller/judge.h"
#include "controller/log_follower.h"

namespace {

constexpr int kStablePort = 8081;
constexpr int kCanaryPort = 8082;

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// xorshift64*: fast, deterministic.
struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
  double Uniform() { return (Next() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal (Box-Muller).
  double Normal() {
    const double u = std::max(Uniform(), 1e-12), v = Uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
  }
};

// ---------------------------------------------------------------------------
// Generating the log

// A latency in seconds, log-normal around `median_ms`, at ms resolution.
double Latency(Rng* rng, double median_ms) {
  const double ms = median_ms * std::exp(0.7 * rng->Normal());
  return std::min(std::round(ms), 5000.0) / 1000.0;
}

bool Generate(const std::string& path, int64_t lines, std::string* err) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    *err = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  static char buffer[1 << 20];
  std::setvbuf(f, buffer, _IOFBF, sizeof(buffer));
  static const char* const kUris[] = {
      "/",          "/api/items",    "/api/items/%d", "/api/cart",
      "/js/app.js", "/css/site.css", "/healthz",      "/search"};
  const char* stable = "127.0.0.1:8081";
  const char* canary = "127.0.0.1:8082";
  Rng rng;
  const int64_t start_ms = 1763934000000;
  int64_t last_sec = -1;
  char iso[32] = "";
  for (int64_t i = 0; i < lines; ++i) {
    const int64_t msec = start_ms + i / 2;  // 2000 requests per second
    if (msec / 1000 != last_sec) {
      last_sec = msec / 1000;
      const time_t t = last_sec;
      struct tm tm;
      gmtime_r(&t, &tm);
      std::strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    }
    const bool to_canary = rng.Uniform() < 0.10;  // a 10% canary step
    const char* slot = to_canary ? canary : stable;
    const char* other = to_canary ? stable : canary;
    const double roll = rng.Uniform();
    int status = rng.Uniform() < 0.1 ? 304 : 200;
    if (rng.Uniform() < 0.03) status = 404;
    // A healthy canary, the case that is read to the end of a step (a bad
    // one is cut, and its lines are no longer judged).
    if (rng.Uniform() < 0.002) status = 503;
    double rt = Latency(&rng, to_canary ? 12 : 9);
    char addr[64], ustatus[32], utime[32];
    if (roll < 0.001) {  // no upstream reached
      status = rng.Uniform() < 0.5 ? 502 : 504;
      std::snprintf(addr, sizeof(addr), "-");
      std::snprintf(ustatus, sizeof(ustatus), "-");
      std::snprintf(utime, sizeof(utime), "-");
      rt = 0;
    } else if (roll < 0.006) {  // retried on the other slot
      std::snprintf(addr, sizeof(addr), "%s, %s", slot, other);
      std::snprintf(ustatus, sizeof(ustatus), "502, %d", status);
      std::snprintf(utime, sizeof(utime), "0.001, %.3f", rt);
      rt += 0.001;
    } else {
      std::snprintf(addr, sizeof(addr), "%s", slot);
      std::snprintf(ustatus, sizeof(ustatus), "%d", status);
      std::snprintf(utime, sizeof(utime), "%.3f", rt);
    }
    char uri[64];
    std::snprintf(uri, sizeof(uri), kUris[rng.Next() % 8],
                  static_cast<int>(rng.Next() % 100000));
    const bool post = rng.Uniform() < 0.15;
    std::fprintf(f,
                 "{\"msec\":%" PRId64
                 ".%03d,\"pid\":%d,\"method\":\"%s\",\"uri\":\"%s\","
                 "\"status\":%d,\"request_time\":%.3f,\"upstream_addr\":\"%s\","
                 "\"upstream_status\":\"%s\",\"upstream_response_time\":\"%s\","
                 "\"bytes_sent\":%d,\"time\":\"%s\"}\n",
                 msec / 1000, static_cast<int>(msec % 1000),
                 4242 + static_cast<int>(rng.Next() % 4), post ? "POST" : "GET",
                 uri, status, rt, addr, ustatus, utime,
                 150 + static_cast<int>(rng.Next() % 1850), iso);
  }
  // fsync: the kernel's writeback of the new file must not run during the
  // measurements.
  const bool ok =
      std::fflush(f) == 0 && !std::ferror(f) && fsync(fileno(f)) == 0;
  if (std::fclose(f) != 0 || !ok) {
    *err = "cannot write " + path;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The analysis child: --analyse FILE

int Analyse(const std::string& path, const std::string& method) {
  const double t0 = Now();
  bgctl::AnalysisConfig cfg;
  cfg.method = method == "windows" ? bgctl::AnalysisMethod::kWindows
                                   : bgctl::AnalysisMethod::kSequential;
  bgctl::JudgeSetup setup;
  setup.stable_port = kStablePort;
  setup.canary_port = kCanaryPort;
  setup.steps = {{10, 3600000, false}, {100, 0, false}};
  std::unique_ptr<bgctl::CanaryJudge> judge = bgctl::MakeJudge(cfg, setup);
  bgctl::LogFollower follower;
  std::string err;
  if (!follower.Open(path, /*from_end=*/false, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  judge->BeginStep(0, 10, 0);
  const auto on_line = [&](std::string_view line) { judge->AddLine(line); };
  // As the rollout does: read what the log holds, then judge, on the clock.
  auto now_ms = [&] { return static_cast<int64_t>((Now() - t0) * 1000); };
  bgctl::Decision d;
  for (int i = 0; i < 100000; ++i) {
    if (!follower.Poll(on_line, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
    d = judge->Update(now_ms(), -1);
    if (follower.caught_up() || d.kind == bgctl::DecisionKind::kReject) break;
  }
  const bgctl::JudgeLive live = judge->Live();
  if (d.kind != bgctl::DecisionKind::kReject) d = judge->EndStep(now_ms(), -1);
  const double seconds = Now() - t0;
  const nlohmann::json evidence = judge->EvidenceJson();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "lines=%" PRId64 " seconds=%.6f rss_kib=%ld canary_requests=%" PRId64
      " canary_errors=%" PRId64 " canary_retried=%" PRId64
      " stable_requests=%" PRId64 " stable_errors=%" PRId64
      " malformed=%" PRId64
      " canary_p99=%.1f stable_p99=%.1f"
      " decision=%s\n",
      follower.lines(), seconds, ru.ru_maxrss, live.canary.requests,
      live.canary.errors_5xx, live.canary.retried_away, live.stable.requests,
      live.stable.errors_5xx,
      evidence.value("malformed_lines", judge->malformed_lines()),
      live.canary.P99(), live.stable.P99(), bgctl::DecisionName(d.kind));
  return 0;
}

// ---------------------------------------------------------------------------
// Running the contenders

struct Run {
  int exit_code = -1;
  double wall_s = 0;
  double cpu_s = 0;  // user + system
  long maxrss_kib = 0;
  std::string output;  // stdout and stderr, first 64 KiB
};

// fork/exec of `argv` with its output captured.
bool RunProgram(const std::vector<std::string>& argv, Run* run) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const double t0 = Now();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (run->output.size() < (64 << 10)) run->output.append(buf, n);
  }
  close(fds[0]);
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  run->wall_s = Now() - t0;
  run->cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  run->maxrss_kib = ru.ru_maxrss;
  run->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return true;
}

// "key=value" from the analysis child's line.
double Field(const std::string& out, const std::string& key) {
  const size_t at = out.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::atof(out.c_str() + at + key.size() + 1);
}

std::string FieldText(const std::string& out, const std::string& key) {
  const size_t at = out.find(key + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  return out.substr(start, out.find_first_of(" \n", start) - start);
}

// The best of `runs` runs: *best has the least wall time, *best_cpu_s the
// least CPU time, *max_rss the largest peak RSS. False if any run failed.
bool BestOf(int runs, const std::vector<std::string>& argv, Run* best,
            double* best_cpu_s, long* max_rss) {
  *max_rss = 0;
  for (int i = 0; i < runs; ++i) {
    Run r;
    if (!RunProgram(argv, &r) || r.exit_code != 0) {
      std::fprintf(stderr, "%s failed (exit %d):\n%s\n", argv[0].c_str(),
                   r.exit_code, r.output.c_str());
      return false;
    }
    *max_rss = std::max(*max_rss, r.maxrss_kib);
    if (i == 0 || r.cpu_s < *best_cpu_s) *best_cpu_s = r.cpu_s;
    if (i == 0 || r.wall_s < best->wall_s) *best = r;
  }
  return true;
}

// Counts canary requests and 5xx the way bgctl attributes them: by the last
// upstream's port, plus retries away from the canary as failures. Fields
// split on '"': $15 is ":STATUS," and $20 the upstream_addr. It uses $status
// for the final status, which equals the last upstream_status entry in the
// generated file.
const char kAwkProgram[] =
    "{ n = split($20, a, \":\"); port = a[n] + 0;"
    "  if (port == 8082) { c++; if (substr($15, 2) + 0 >= 500) e++ }"
    "  else if ($20 ~ /:8082[, ]/) { c++; e++ } }"
    " END { printf \"canary_requests=%d canary_errors=%d\\n\", c, e }";

// GoAccess 1.7's JSON log format: each value names a specifier. $upstream_addr
// stands in for the client (%h, with --no-ip-validation: the log has no
// client address), msec is the date (%x with --datetime-format=%s).
const char kGoAccessFormat[] =
    R"({"msec":"%x.%^","pid":"%^","method":"%m","uri":"%U","status":"%s",)"
    R"("request_time":"%T","upstream_addr":"%h","upstream_status":"%^",)"
    R"("upstream_response_time":"%^","bytes_sent":"%b","time":"%^"})";

struct Options {
  int64_t lines = 1000000;
  int runs = 3;
};

double Mib(long kib) { return kib / 1024.0; }

struct Contender {
  const char* name;
  Run best;           // the run with the least wall time
  double best_cpu_s;  // the least CPU time of all runs
  long max_rss_kib;
};

void PrintRow(const Contender& c, double lines, const std::string& note) {
  std::printf("%-9s %8.3f s %7.2f M/s %8.3f s %7.2f M/s %7.1f MiB   %s\n",
              c.name, c.best.wall_s, lines / c.best.wall_s / 1e6, c.best_cpu_s,
              lines / c.best_cpu_s / 1e6, Mib(c.max_rss_kib), note.c_str());
}

// The first `awk` in PATH with links resolved (on Debian: mawk or gawk).
std::string WhichAwk() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::error_code ec;
    const auto real = std::filesystem::canonical(dir + "/awk", ec);
    if (!ec) return real.filename().string();
  }
  return "awk";
}

bool SameCounts(const std::string& a, const std::string& b) {
  return FieldText(a, "canary_requests") == FieldText(b, "canary_requests") &&
         FieldText(a, "canary_errors") == FieldText(b, "canary_errors");
}

int Report(const Options& opt, int64_t file_bytes, const std::string& load,
           const Contender& bgctl, const Contender& windows,
           const Contender& awk, const Contender& ga, int64_t ga_valid,
           int64_t ga_failed) {
  const std::string& out = bgctl.best.output;
  const double n = static_cast<double>(opt.lines);
  const bool lines_ok = Field(out, "lines") == n &&
                        Field(out, "malformed") == 0 &&
                        Field(windows.best.output, "lines") == n;
  const bool counts_ok = SameCounts(out, awk.best.output) &&
                         SameCounts(windows.best.output, awk.best.output);
  const double canary_requests = Field(out, "canary_requests");
  const double canary_errors = Field(out, "canary_errors");
  const double bgctl_lps = n / bgctl.best.wall_s;
  const double rss_mib = Mib(bgctl.max_rss_kib);

  std::printf("=== bgctl log analysis benchmark (best of %d runs each) ===\n",
              opt.runs);
  std::printf(
      "file      %" PRId64
      " lines, %.1f MB, %.0f bytes/line, streamed to a temp folder (removed)\n",
      opt.lines, file_bytes / 1e6, file_bytes / n);
  std::printf("machine   %ld cpus, load average at start %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), load.c_str());
  std::printf("%-9s %10s %11s %10s %11s %11s\n", "", "wall", "lines/s", "cpu",
              "lines/s", "peak RSS");
  PrintRow(bgctl, n,
           "LogFollower::Poll -> sequential judge, one thread (decision " +
               FieldText(out, "decision") + ")");
  PrintRow(windows, n,
           "the same with the window rule (decision " +
               FieldText(windows.best.output, "decision") + ")");
  PrintRow(awk, n,
           WhichAwk() + " one-liner: canary requests and 5xx" +
               (counts_ok ? " (same counts as bgctl)" : " (COUNTS DIFFER)"));
  PrintRow(
      ga, n,
      "goaccess JSON log format, -o report.json: " + std::to_string(ga_valid) +
          " valid, " + std::to_string(ga_failed) + " failed lines");
  std::printf(
      "ratio     sequential/windows %.2fx wall (%.2fx cpu)   bgctl/awk %.1fx "
      "wall (%.1fx cpu)   bgctl/goaccess %.1fx wall (%.1fx cpu)\n",
      windows.best.wall_s / bgctl.best.wall_s,
      windows.best_cpu_s / bgctl.best_cpu_s,
      awk.best.wall_s / bgctl.best.wall_s, awk.best_cpu_s / bgctl.best_cpu_s,
      ga.best.wall_s / bgctl.best.wall_s, ga.best_cpu_s / bgctl.best_cpu_s);
  std::printf(
      "bgctl saw canary %.0f requests, %.0f 5xx (rate %.4f), %s retried away; "
      "stable %s requests;\n          p99 canary %s ms, stable %s ms; "
      "decision %s (in-process time %s s)\n",
      canary_requests, canary_errors,
      canary_requests > 0 ? canary_errors / canary_requests : 0,
      FieldText(out, "canary_retried").c_str(),
      FieldText(out, "stable_requests").c_str(),
      FieldText(out, "canary_p99").c_str(),
      FieldText(out, "stable_p99").c_str(), FieldText(out, "decision").c_str(),
      FieldText(out, "seconds").c_str());
  std::printf(
      "targets   >= 3M lines/s (wall): %s (%.2fM)   peak RSS <= 10 MiB: %s "
      "(%.1f MiB)\n",
      bgctl_lps >= 3e6 ? "met" : "MISSED", bgctl_lps / 1e6,
      rss_mib <= 10 ? "met" : "MISSED", rss_mib);
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  std::printf(
      "          (the benchmark's own process, generator included: peak RSS "
      "%.1f MiB)\n",
      Mib(self.ru_maxrss));
  if (!lines_ok) {
    std::printf("ERROR: bgctl read %s lines, %s malformed\n",
                FieldText(out, "lines").c_str(),
                FieldText(out, "malformed").c_str());
  }
  if (!counts_ok) std::printf("ERROR: awk says %s", awk.best.output.c_str());
  if (ga_valid != opt.lines)
    std::printf("ERROR: GoAccess did not parse every line\n");
  return lines_ok && counts_ok && ga_valid == opt.lines ? 0 : 1;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--lines" && i + 1 < argc) {
      o->lines = std::atoll(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      o->runs = std::atoi(argv[++i]);
    } else {
      return false;
    }
  }
  return o->lines > 0 && o->runs > 0;
}

int Bench(const Options& opt) {
  char tmpl[] = "/tmp/bgctl-log-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  const std::string log = dir + "/access.log";
  std::string load;
  {
    std::ifstream in("/proc/loadavg");
    std::string one, five, fifteen;
    in >> one >> five >> fifteen;
    load = one + " " + five + " " + fifteen;
  }
  std::string err;
  double t0 = Now();
  if (!Generate(log, opt.lines, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const double gen_s = Now() - t0;
  const int64_t file_bytes = std::filesystem::file_size(log);
  std::printf("generated %" PRId64 " lines (%.1f MB) in %.1f s; running...\n",
              opt.lines, file_bytes / 1e6, gen_s);

  Run bgctl_run, windows_run, awk_run, ga_run;
  long bgctl_rss, windows_rss, awk_rss, ga_rss;
  double bgctl_cpu, windows_cpu, awk_cpu, ga_cpu;
  if (!BestOf(opt.runs, {"/proc/self/exe", "--analyse", log, "sequential"},
              &bgctl_run, &bgctl_cpu, &bgctl_rss) ||
      !BestOf(opt.runs, {"/proc/self/exe", "--analyse", log, "windows"},
              &windows_run, &windows_cpu, &windows_rss)) {
    return 1;
  }
  if (!BestOf(opt.runs, {"awk", "-F\"", kAwkProgram, log}, &awk_run, &awk_cpu,
              &awk_rss)) {
    return 1;
  }
  const std::string report = dir + "/report.json";
  if (!BestOf(opt.runs,
              {"goaccess", log, "--no-global-config",
               std::string("--log-format=") + kGoAccessFormat,
               "--datetime-format=%s", "--no-ip-validation", "-o", report},
              &ga_run, &ga_cpu, &ga_rss)) {
    return 1;
  }
  int64_t ga_valid = -1, ga_failed = -1;
  try {
    std::ifstream in(report);
    const nlohmann::json j = nlohmann::json::parse(in);
    ga_valid = j.at("general").at("valid_requests").get<int64_t>();
    ga_failed = j.at("general").at("failed_requests").get<int64_t>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot read GoAccess's report: %s\n", e.what());
  }

  const Contender bgctl{"bgctl", bgctl_run, bgctl_cpu, bgctl_rss};
  const Contender windows{"windows", windows_run, windows_cpu, windows_rss};
  const Contender awk{"awk", awk_run, awk_cpu, awk_rss};
  const Contender ga{"goaccess", ga_run, ga_cpu, ga_rss};
  return Report(opt, file_bytes, load, bgctl, windows, awk, ga, ga_valid,
                ga_failed);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Internal modes: the analysis child, and writing a log to look at.
  if (argc == 4 && std::string(argv[1]) == "--analyse")
    return Analyse(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "--generate") {
    std::string err;
    if (Generate(argv[2], std::atoll(argv[3]), &err)) return 0;
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    std::fprintf(stderr, "usage: log_analysis [--lines N] [--runs N]\n");
    return 2;
  }
  return Bench(opt);
}
