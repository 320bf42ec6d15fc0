// The bare reload step a shell script would run, timed for
// bench/deploy_under_load.cc: write the upstream file, `nginx -t`,
// `nginx -s reload`, poll the probe. Header-only, like bench_util.h.
#ifndef BGCTL_BENCH_BARE_RELOAD_H_
#define BGCTL_BENCH_BARE_RELOAD_H_

#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "controller/reload_switch.h"
#include "tests/support/nginx_fixture.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"

namespace bgctl::bench {

constexpr int kBareIterations = 10;
constexpr double kSafeStreakMs = 150;

// One bare iteration, each in ms since the write started.
struct BareTimes {
  double write = 0, test = 0, reload = 0;  // cumulative end times
  double first_new = -1, safe_streak = -1, safe_release = -1;
  double find_listener = 0;  // netlink lookup before the write (added to
                             // safe_release)
  double proc_net_tcp = 0;   // the same from /proc/net/tcp (not counted)
  int old_after_new = 0;     // old-generation answers after the first new one
  int64_t from_ms = 0, to_ms = 0;  // steady clock: the write .. the end
};

struct BareResult {
  bool ok = true;
  std::string problem;
  std::vector<BareTimes> times;
};

// Runs a command the way a script would (RunQuiet); on failure runs it again
// with its output captured, for the message.
inline bool CheckedRun(const std::vector<std::string>& argv, std::string* err) {
  if (RunQuiet(argv) == 0) return true;
  testing::CommandResult r = testing::RunCommand(argv, 30000);
  *err = argv[0] + " " + argv[1] + " exited " + std::to_string(r.exit_code) +
         ": " + r.err;
  return false;
}

// One bare step on `svc`'s nginx: upstream = stable port only.
inline bool BareOnce(testing::Service* svc, int stable_port,
                     uint64_t generation, BareTimes* t, std::string* err) {
  testing::NginxFixture& ngx = svc->nginx();
  std::vector<int> old_workers;
  for (pid_t p : ngx.WorkerPids()) old_workers.push_back(p);
  // Finding the listener: over netlink (counted in the "released" variant,
  // as a script using `ss` would), and, for comparison only, from
  // /proc/net/tcp.
  double lookup = NowMsExact();
  std::vector<uint64_t> inodes = ListenerInodesNetlink(ngx.port());
  t->find_listener = NowMsExact() - lookup;
  lookup = NowMsExact();
  std::vector<uint64_t> from_proc = ListenerInodes(ngx.port());
  t->proc_net_tcp = NowMsExact() - lookup;
  if (inodes.empty() || inodes != from_proc) {
    *err = "netlink and /proc/net/tcp disagree on the listener of port " +
           std::to_string(ngx.port());
    return false;
  }
  std::string text =
      RenderUpstream("svc", ServersForSplit(stable_port, 0, 0), generation);
  const std::string want = std::to_string(generation);
  double start = NowMsExact();
  {
    std::ofstream f(ngx.upstream_file(), std::ios::trunc);
    f << text;
    if (!f.good()) {
      *err = "cannot write " + ngx.upstream_file();
      return false;
    }
  }
  t->write = NowMsExact() - start;
  if (!CheckedRun(ngx.test_command(), err)) return false;
  t->test = NowMsExact() - start;
  if (!CheckedRun(ngx.reload_command(), err)) return false;
  t->reload = NowMsExact() - start;
  double streak = -1;
  bool released = false;
  while (NowMsExact() - start < 5000) {
    int status = 0;
    std::string body = GetFresh(ngx.port(), "/__bgctl/generation", &status);
    double now = NowMsExact() - start;
    bool is_new = status == 200 && body == want;
    if (!released) {
      released = true;
      for (int pid : old_workers) released &= !HoldsSocket(pid, inodes);
    }
    if (is_new) {
      if (t->first_new < 0) t->first_new = now;
      if (streak < 0) streak = now;
      if (t->safe_streak < 0 && now - streak >= kSafeStreakMs)
        t->safe_streak = now;
      if (t->safe_release < 0 && released) t->safe_release = now;
    } else {
      streak = -1;
      if (t->first_new >= 0) t->old_after_new++;
    }
    if (t->safe_streak >= 0 && t->safe_release >= 0) {
      t->from_ms = static_cast<int64_t>(start);
      t->to_ms = NowMs();
      t->safe_release += t->find_listener;
      return true;
    }
    SleepMs(5);
  }
  *err = "bare reload of generation " + want + " not confirmed within 5 s";
  return false;
}

inline BareResult RunBare(testing::Service* svc, int stable_port) {
  BareResult result;
  int status = 0;
  uint64_t generation =
      std::stoull("0" + GetFresh(svc->port(), "/__bgctl/generation", &status));
  for (int i = 0; i < kBareIterations; ++i) {
    // Let the previous reload's old workers exit first.
    for (int64_t end = NowMs() + 3000;
         svc->nginx().WorkerPids().size() > 2 && NowMs() < end;)
      SleepMs(10);
    SleepMs(100);
    BareTimes t;
    if (!BareOnce(svc, stable_port, ++generation, &t, &result.problem)) {
      result.ok = false;
      return result;
    }
    result.times.push_back(t);
  }
  return result;
}

struct BareMedians {
  double write, test, reload, first, streak, release, find_listener,
      proc_net_tcp;
  int old_after_new;
};

inline BareMedians Medians(const BareResult& bare) {
  std::vector<double> w, te, r, f, s, rel, fl, pnt;
  BareMedians m{};
  for (const BareTimes& t : bare.times) {
    w.push_back(t.write);
    te.push_back(t.test);
    r.push_back(t.reload);
    f.push_back(t.first_new);
    s.push_back(t.safe_streak);
    rel.push_back(t.safe_release);
    fl.push_back(t.find_listener);
    pnt.push_back(t.proc_net_tcp);
    m.old_after_new += t.old_after_new;
  }
  m.write = Median(w);
  m.test = Median(te);
  m.reload = Median(r);
  m.first = Median(f);
  m.streak = Median(s);
  m.release = Median(rel);
  m.find_listener = Median(fl);
  m.proc_net_tcp = Median(pnt);
  return m;
}

}  // namespace bgctl::bench

#endif  // BGCTL_BENCH_BARE_RELOAD_H_
