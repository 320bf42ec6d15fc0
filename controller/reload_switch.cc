#include "controller/reload_switch.h"

#include <algorithm>

#include "controller/failpoint.h"
#include "controller/text.h"

namespace bgctl {

namespace {

bool HoldsPid(const std::vector<SocketHolder>& holders, int pid) {
  for (const SocketHolder& h : holders) {
    if (h.pid == pid) return true;
  }
  return false;
}

bool SameProcess(const SocketHolder& a, const SocketHolder& b) {
  return a.pid == b.pid && a.start_time == b.start_time;
}

bool HoldsProcess(const std::vector<SocketHolder>& holders,
                  const SocketHolder& p) {
  for (const SocketHolder& h : holders) {
    if (SameProcess(h, p)) return true;
  }
  return false;
}

std::string PidList(const std::vector<SocketHolder>& holders) {
  std::string s;
  for (const SocketHolder& h : holders) {
    s += (s.empty() ? "" : ", ") + std::to_string(h.pid);
  }
  return s;
}

std::string Where(const NginxConfig& cfg) {
  return cfg.probe_host + ":" + std::to_string(cfg.probe_port);
}

}  // namespace

struct ReloadSwitch::Watch {
  bool exact = false;   // old workers known: confirm by their release
  std::string why_not;  // when !exact, why (empty: no inspector)
  SocketHolder master;
  std::vector<uint64_t> inodes;           // the listener before the reload
  std::vector<SocketHolder> old_workers;  // all of them
  std::vector<SocketHolder> holding;      // those still holding the listener
};

ReloadSwitch::ReloadSwitch(const NginxConfig& cfg, const std::string& workdir,
                           Env env)
    : cfg_(cfg), workdir_(workdir), env_(env) {}

bool ReloadSwitch::Apply(const std::vector<UpstreamServer>& servers,
                         uint64_t generation, std::string* err,
                         int64_t* elapsed_ms) {
  if (!CheckServers(servers, err)) {
    last_outcome_ = SwitchOutcome::kRejected;
    if (elapsed_ms != nullptr) *elapsed_ms = 0;
    return false;
  }
  return ApplyText(RenderUpstream(cfg_.upstream_name, servers, generation,
                                  cfg_.upstream_keepalive),
                   generation, err, elapsed_ms);
}

bool ReloadSwitch::ApplyText(const std::string& text, uint64_t generation,
                             std::string* err, int64_t* elapsed_ms) {
  int64_t start = env_.clock->NowMs();
  Watch watch;
  // Install sets kRejected or kUnknown when it fails; Confirm can only
  // leave the switch unknown.
  last_outcome_ = SwitchOutcome::kUnknown;
  bool ok = Install(text, &watch, err) && Confirm(generation, &watch, err);
  if (ok) {
    last_exact_ = watch.exact;
    last_outcome_ = SwitchOutcome::kConfirmed;
  }
  if (elapsed_ms != nullptr) *elapsed_ms = env_.clock->NowMs() - start;
  return ok;
}

SwitchResult ReloadSwitch::Apply(const TrafficSplit& split) {
  SwitchResult r;
  if (Apply(ServersFor(split), split.generation, &r.error, &r.elapsed_ms)) {
    r.outcome = SwitchOutcome::kConfirmed;
    r.confirmed_by = last_exact_ ? "exact" : "settle";
    r.error.clear();
  } else {
    r.outcome = last_outcome_;
  }
  return r;
}

bool ReloadSwitch::ServedGeneration(uint64_t* generation, std::string* err) {
  return ProbeGeneration(generation, err);
}

bool ReloadSwitch::Install(const std::string& text, Watch* watch,
                           std::string* err) {
  last_outcome_ = SwitchOutcome::kRejected;
  const std::string& path = cfg_.upstream_file;
  std::string previous;
  bool had_previous = env_.fs->Exists(path);
  if (had_previous && !env_.fs->ReadFile(path, &previous, err)) return false;

  // A failed atomic write leaves the previous file as it was.
  if (!env_.fs->WriteFileAtomic(path, text, err)) return false;
  Failpoint("upstream-written");
  if (!RunChecked(cfg_.test_command, "nginx config test", err)) {
    if (!RestoreUpstreamFile(env_.fs, path, had_previous, previous, err))
      last_outcome_ = SwitchOutcome::kUnknown;
    return false;
  }
  WatchWorkers(watch);
  // From here on nginx may take the new file, now or at its next start.
  last_outcome_ = SwitchOutcome::kUnknown;
  bool reloaded = RunChecked(cfg_.reload_command, "nginx reload", err);
  Failpoint("reload-sent");
  if (!reloaded) return false;
  last_outcome_ = SwitchOutcome::kUnknown;
  return true;
}

void ReloadSwitch::WatchWorkers(Watch* w) {
  if (inspector_ == nullptr) return;
  Listener listener;
  if (!inspector_->FindListener(cfg_.probe_host, cfg_.probe_port, &listener,
                                &w->why_not)) {
    return;
  }
  std::vector<SocketHolder> roots;
  for (const SocketHolder& h : listener.holders) {
    if (!HoldsPid(listener.holders, h.parent_pid)) roots.push_back(h);
  }
  std::string where = Where(cfg_);
  if (roots.size() != 1) {
    w->why_not = "processes " + PidList(roots) +
                 " all hold the socket listening on " + where +
                 " and none is the parent of the others";
    return;
  }
  w->master = roots[0];
  for (const SocketHolder& h : listener.holders) {
    if (h.parent_pid == w->master.pid) w->old_workers.push_back(h);
  }
  if (w->old_workers.empty()) {
    w->why_not = "process " + std::to_string(w->master.pid) +
                 " holds the socket listening on " + where +
                 " but none of its children does";
    return;
  }
  w->inodes = listener.inodes;
  w->holding = w->old_workers;
  w->exact = true;
}

void ReloadSwitch::CheckReleased(Watch* w) {
  std::vector<SocketHolder> still;
  for (const SocketHolder& h : w->holding) {
    bool holds = false;
    std::string why;
    if (!inspector_->StillHolds(h, w->inodes, &holds, &why)) {
      w->exact = false;
      w->why_not = "after the reload, " + why;
      return;
    }
    if (holds) still.push_back(h);
  }
  w->holding = still;
}

bool ReloadSwitch::CheckNewWorkers(Watch* w) {
  Listener now;
  std::string why;
  bool master = false, new_worker = false;
  if (inspector_->FindListener(cfg_.probe_host, cfg_.probe_port, &now, &why)) {
    for (const SocketHolder& h : now.holders) {
      master = master || SameProcess(h, w->master);
      new_worker = new_worker || (h.parent_pid == w->master.pid &&
                                  !HoldsProcess(w->old_workers, h));
    }
    if (!master) {
      why = "master " + std::to_string(w->master.pid) +
            " no longer holds the socket listening on " + Where(cfg_);
    } else if (!new_worker) {
      why = "no new child of master " + std::to_string(w->master.pid) +
            " holds the socket listening on " + Where(cfg_);
    }
  }
  if (master && new_worker) return true;
  w->exact = false;
  w->why_not = "after the reload, " + why;
  return false;
}

bool ReloadSwitch::Test(std::string* err) {
  return RunChecked(cfg_.test_command, "nginx config test", err);
}

bool ReloadSwitch::ProbeGeneration(uint64_t* generation, std::string* err) {
  std::string answer;
  if (ProbeOnce(2000, generation, &answer)) return true;
  *err = "nginx probe " + cfg_.probe_url + ": " + answer;
  return false;
}

bool ReloadSwitch::RunChecked(const std::vector<std::string>& argv,
                              const std::string& what, std::string* err) {
  if (argv.empty()) {
    *err = what + " failed: no command configured";
    return false;
  }
  RunResult result;
  std::string run_err;
  if (!env_.processes->Run(argv, workdir_, command_timeout_ms_, &result,
                           &run_err)) {
    *err = what + " failed: " + run_err;
    return false;
  }
  std::string output = Trim(result.output);
  if (result.timed_out) {
    *err = what + " failed: timed out after " +
           std::to_string(command_timeout_ms_) + "ms" +
           (output.empty() ? "" : ": " + output);
    return false;
  }
  if (result.exit_code != 0) {
    *err = what + " failed: " +
           (output.empty() ? "exit code " + std::to_string(result.exit_code)
                           : output);
    return false;
  }
  return true;
}

bool ReloadSwitch::ProbeOnce(int64_t timeout_ms, uint64_t* generation,
                             std::string* answer) {
  HttpResponse response;
  std::string probe_err;
  if (!env_.http->Get(cfg_.probe_host, cfg_.probe_port, cfg_.probe_path,
                      timeout_ms, &response, &probe_err)) {
    *answer = "probe failed: " + probe_err;
    return false;
  }
  if (response.status != 200) {
    *answer = "probe answered HTTP " + std::to_string(response.status);
    return false;
  }
  std::string body = Trim(response.body);
  if (!ParseDecimal(body, generation)) {
    if (body.size() > 40) body = body.substr(0, 40) + "...";
    *answer = "probe answered \"" + body + "\", not a generation number";
    return false;
  }
  return true;
}

bool ReloadSwitch::Confirm(uint64_t generation, Watch* w, std::string* err) {
  int64_t start = env_.clock->NowMs();
  int64_t streak_start = -1;  // first answer of the current run of new ones
  std::string answer;
  int64_t waited = 0;
  for (;;) {
    if (w->exact && !w->holding.empty()) CheckReleased(w);
    uint64_t got = 0;
    bool ok =
        ProbeOnce(std::clamp<int64_t>(confirm_deadline_ms_ - waited, 1, 1000),
                  &got, &answer);
    int64_t now = env_.clock->NowMs();
    if (ok && got == generation) {
      if (streak_start < 0) streak_start = now;
      if (w->exact && w->holding.empty() && CheckNewWorkers(w)) return true;
      if (!w->exact && now - streak_start >= settle_ms_) return true;
    } else {
      if (ok) answer = "probe answered generation " + std::to_string(got);
      streak_start = -1;
    }
    waited = now - start;
    if (waited >= confirm_deadline_ms_) break;
    env_.clock->SleepMs(
        std::min(poll_interval_ms_, confirm_deadline_ms_ - waited));
    waited = env_.clock->NowMs() - start;
  }
  if (streak_start >= 0 && w->exact) {
    answer = "probe answered generation " + std::to_string(generation) +
             ", but old nginx workers still listen (pids " +
             PidList(w->holding) + ")";
  } else if (streak_start >= 0) {
    answer = "probe answered generation " + std::to_string(generation) +
             " for only " + std::to_string(start + waited - streak_start) +
             "ms of the " + std::to_string(settle_ms_) + "ms settle time";
  }
  *err = "nginx reload not confirmed: " + answer + ", expected " +
         std::to_string(generation) + " after " + std::to_string(waited) + "ms";
  if (!w->exact && !w->why_not.empty()) {
    *err += " (confirming by the settle time: " + w->why_not + ")";
  }
  return false;
}

}  // namespace bgctl
