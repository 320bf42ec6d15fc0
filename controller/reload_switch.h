// nginx.switch: reload, the traffic switch that works with any nginx:
// rewrites the upstream file (upstream_file.h), tests the config, reloads
// nginx and confirms the reload through the generation probe and nginx's
// processes (CONTRACT.md, "What a user's own nginx.conf needs";
// nginx/README.md). All side effects go through env.h.
#ifndef BGCTL_CONTROLLER_RELOAD_SWITCH_H_
#define BGCTL_CONTROLLER_RELOAD_SWITCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/sockets.h"
#include "controller/traffic_switch.h"
#include "controller/upstream_file.h"

namespace bgctl {

// Installs upstream files into a running nginx and confirms each reload.
// Keeps pointers from `env`; the config is copied.
class ReloadSwitch : public TrafficSwitch {
 public:
  // `workdir` is where the test and reload commands run (Config::dir).
  ReloadSwitch(const NginxConfig& cfg, const std::string& workdir, Env env);

  const char* Name() const override { return "reload"; }
  // Apply() below for ServersFor(split); its outcome is kConfirmed when it
  // returns true, kRejected when it failed before the reload command (the
  // previous file is back, or was never replaced), kUnknown otherwise (the
  // reload command failed or was not confirmed, or the previous file could
  // not be put back). confirmed_by is "exact" or "settle".
  SwitchResult Apply(const TrafficSplit& split) override;
  // ProbeGeneration().
  bool ServedGeneration(uint64_t* generation, std::string* err) override;

  // How long Apply waits for the reload to be confirmed (default 5000 ms),
  // how long the probe must keep answering the new generation when the
  // reload cannot be confirmed through nginx's processes (default 200 ms,
  // see Apply), how often it asks (default 5 ms), and the time limit for
  // each of the test and reload commands (default 30000 ms).
  void set_confirm_deadline_ms(int64_t ms) { confirm_deadline_ms_ = ms; }
  void set_settle_ms(int64_t ms) { settle_ms_ = ms; }
  void set_poll_interval_ms(int64_t ms) { poll_interval_ms_ = ms; }
  void set_command_timeout_ms(int64_t ms) { command_timeout_ms_ = ms; }
  // What Apply uses to tell when the old workers stopped accepting (default
  // RealSocketInspector()). nullptr: always confirm by the settle time, and
  // say nothing about it. Not owned.
  void set_socket_inspector(SocketInspector* inspector) {
    inspector_ = inspector;
  }
  // Whether the last confirmed Apply was confirmed through nginx's processes
  // (false: by the settle time).
  bool last_confirmed_exactly() const { return last_exact_; }

  // Makes `servers` the upstream, as generation `generation`:
  //  1. writes the upstream file atomically (RenderUpstream);
  //  2. runs the test command; if it fails, puts the previous file back byte
  //     for byte (or removes the file if there was none), never reloads, and
  //     returns false with *err = "nginx config test failed: <output>";
  //  3. runs the reload command; if it fails, returns false with *err =
  //     "nginx reload failed: <output>" and leaves the new file in place:
  //     it passed the test, and the reload fails when nginx cannot be
  //     signalled (usually: its master is gone), so the file is what nginx
  //     serves when it starts again; the outcome is kUnknown;
  //  4. confirms the reload. Just before the reload command it finds, via
  //     the socket inspector, the processes holding the socket that listens
  //     on the probe's address: the master (the one holder whose parent
  //     holds nothing) and its children, the old workers. On reload the
  //     master starts new workers, sleeps 100 ms, and only then tells the
  //     old ones to quit; until they close the listening socket, new
  //     connections can still land on them and the previous file (measured
  //     with nginx 1.22: old answers until 96-107 ms after the reload
  //     command, up to 98 ms after the first new answer). So Apply polls
  //     (every poll interval) the old workers and the probe (each time over
  //     a new connection), and the reload is confirmed when no old worker
  //     holds the listening socket any more (or has exited) and then the
  //     probe answers the new generation, and a new look at the listener
  //     shows the same master and at least one new child holding it. Old
  //     workers may live on to finish requests they accepted before.
  //     When the inspector cannot tell (no inspector set, the socket is not
  //     found, another user's processes cannot be read, the probe host is
  //     not local; or the after-reload look disagrees), Apply falls back to
  //     time: the probe must answer only the new generation for the settle
  //     time after its first new answer (any other answer starts over).
  //     If the reload is not confirmed within the confirm deadline, returns
  //     false with *err =
  //       "nginx reload not confirmed: probe answered generation X, expected N
  //       after Dms"
  //     (with "probe answered HTTP S", "probe failed: E", "probe answered
  //     \"BODY\", not a generation number", "probe answered generation N
  //     for only Tms of the Sms settle time" or "probe answered generation N,
  //     but old nginx workers still listen (pids P, Q)" in place of "probe
  //     answered generation X"); after a fallback with a reason, followed by
  //     " (confirming by the settle time: WHY)".
  //     The new file is then left in place: it passed the
  //     test, nginx may already run it or pick it up on the next reload, so
  //     the caller must treat the split as unknown.
  // Returns true only when the reload is confirmed. Invalid `servers` (empty,
  // weight outside 1..100, port outside 1..65535) fail before anything is
  // written. Sets *elapsed_ms (if non-null) to the time taken, success or not.
  bool Apply(const std::vector<UpstreamServer>& servers, uint64_t generation,
             std::string* err, int64_t* elapsed_ms = nullptr);
  // Apply() with the upstream file's text given: `text` must set
  // $bgctl_generation to `generation` (the lua switch's migration installs
  // its own file this way).
  bool ApplyText(const std::string& text, uint64_t generation, std::string* err,
                 int64_t* elapsed_ms = nullptr);
  // The outcome of the last Apply (kUnknown before any).
  SwitchOutcome last_outcome() const { return last_outcome_; }

  // Runs the test command against the files as they are now. False with
  // *err = "nginx config test failed: <output>" when it fails.
  bool Test(std::string* err);

  // Asks the probe once (new connection) for the generation the running
  // nginx serves. False with *err when it cannot be reached or does not
  // answer 200 with a number.
  bool ProbeGeneration(uint64_t* generation, std::string* err);

 private:
  // What Apply knows of nginx's processes around a reload (nginx.cc).
  struct Watch;

  // Steps 1-3 of Apply; fills *watch just before the reload command.
  bool Install(const std::string& text, Watch* watch, std::string* err);
  // Finds the master and the old workers holding the probe's listener.
  void WatchWorkers(Watch* watch);
  // Drops the old workers that no longer hold the listener.
  void CheckReleased(Watch* watch);
  // After the release: the same master and a new worker hold the listener.
  bool CheckNewWorkers(Watch* watch);
  // Runs `argv` in workdir_; false with *err = "<what> failed: <output>"
  // when it cannot start, times out or exits non-zero.
  bool RunChecked(const std::vector<std::string>& argv, const std::string& what,
                  std::string* err);
  // One probe. Returns true when it answered 200 with a number, setting
  // *generation; otherwise *answer describes what it got.
  bool ProbeOnce(int64_t timeout_ms, uint64_t* generation, std::string* answer);
  // Step 4 of Apply: polls until the reload is confirmed (exactly, or by
  // the settle time when watch->exact is false) or the deadline passes.
  bool Confirm(uint64_t generation, Watch* watch, std::string* err);

  NginxConfig cfg_;
  std::string workdir_;
  Env env_;
  int64_t confirm_deadline_ms_ = 5000;
  int64_t settle_ms_ = 200;
  int64_t poll_interval_ms_ = 5;
  int64_t command_timeout_ms_ = 30000;
  SocketInspector* inspector_ = RealSocketInspector();
  bool last_exact_ = false;
  SwitchOutcome last_outcome_ = SwitchOutcome::kUnknown;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_RELOAD_SWITCH_H_
