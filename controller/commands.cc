#include "controller/commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "controller/adoption.h"
#include "controller/analysis_file.h"
#include "controller/control_key.h"
#include "controller/duration.h"
#include "controller/exit_codes.h"
#include "controller/history.h"
#include "controller/judge.h"
#include "controller/lock.h"
#include "controller/lua_switch.h"
#include "controller/metrics.h"
#include "controller/names.h"
#include "controller/nginx_checks.h"
#include "controller/nginx_conf.h"
#include "controller/process.h"
#include "controller/recovery.h"
#include "controller/reload_switch.h"
#include "controller/rollout.h"
#include "controller/rotate_key.h"
#include "controller/slot_runner.h"
#include "controller/state.h"
#include "controller/steps.h"
#include "controller/traffic_switch.h"
#include "controller/upstream_file.h"
#include "controller/watch.h"

namespace bgctl {
namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

void OnStopSignal(int) { g_stop_requested = 1; }

// SIGINT/SIGTERM only set a flag: the rollout checks it between actions, so
// nginx's file is never left half-written, however many signals arrive.
void CatchStopSignals() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int Fail(Reporter* out, int code, const std::string& message) {
  out->Error(message);
  out->Finish(code);
  return code;
}

// Everything a command that changes the service holds while it runs.
struct Session {
  Config config;
  Env env = RealEnv();
  std::unique_ptr<Reporter> out;
  std::unique_ptr<TrafficSwitch> traffic;
  std::unique_ptr<SlotRunner> runner;
  std::unique_ptr<MetricsFile> metrics;  // metrics.textfile, when set
  Lock lock;
  State state;
  RolloutContext ctx;
};

// Loads the config. Exit code 2 on a bad config.
int LoadSessionConfig(const CommandLine& cl, Session* s) {
  s->out = std::make_unique<Reporter>(s->env.clock, cl.json);
  std::string err;
  if (!LoadConfig(cl.config_path, &s->config, &err))
    return Fail(s->out.get(), kExitUsage, err);
  return kExitOk;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
}

// Takes the service's lock, waiting up to --lock-wait for it. SIGINT and
// SIGTERM during the wait end it: exit 1, nothing changed.
int TakeLock(const CommandLine& cl, const std::string& path, Session* s) {
  struct sigaction sa = {}, old_int, old_term;
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  const bool wait = cl.lock_wait_ms > 0;
  if (wait) {
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  auto on_wait = [&](int holder) {
    s->out->Notice("lock_wait",
                   "waiting up to " + FormatDuration(cl.lock_wait_ms) +
                       " for the lock held by bgctl pid " +
                       (holder ? std::to_string(holder) : "unknown"),
                   {{"holder_pid", holder}, {"wait_ms", cl.lock_wait_ms}});
  };
  int holder = 0;
  std::string err;
  LockOutcome r = s->lock.Acquire(path, cl.lock_wait_ms, &g_stop_requested,
                                  on_wait, &holder, &err);
  if (wait) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
  if (r == LockOutcome::kAcquired) return kExitOk;
  return Fail(s->out.get(), r == LockOutcome::kBusy ? kExitBusy : kExitFailed,
              err);
}

// Loads the config, takes the lock and loads the state, and recovers from
// a bgctl that stopped in the middle (RecoverOnOpen).
int OpenSession(const CommandLine& cl, Session* s) {
  if (int code = LoadSessionConfig(cl, s)) return code;
  std::string err;
  const Config& cfg = s->config;
  if (!s->env.fs->MakeDirs(cfg.state_dir, 0700, &err) ||
      !CheckPrivateDir("state_dir", cfg.state_dir, &err) ||
      !CheckPrivateDir("the folder of nginx.upstream_file",
                       DirOf(cfg.nginx.upstream_file), &err))
    return Fail(s->out.get(), kExitFailed, err);
  if (int code = TakeLock(cl, cfg.state_dir + "/lock", s)) return code;
  RolloutContext& ctx = s->ctx;
  ctx.config = &s->config;
  ctx.env = s->env;
  ctx.out = s->out.get();
  ctx.stop_requested = &g_stop_requested;
  ctx.self.pid = getpid();
  ReadStartTime(ctx.self.pid, &ctx.self.start_time);
  ctx.self_argv = cl.self_argv;
  ctx.state_path = StatePath(cfg);
  ctx.history_path = HistoryPath(cfg);
  s->traffic = MakeTrafficSwitch(cfg, s->env);
  s->runner = MakeSlotRunner(cfg, s->env);
  ctx.traffic = s->traffic.get();
  ctx.runner = s->runner.get();
  if (!cfg.metrics.textfile.empty()) {
    s->metrics = std::make_unique<MetricsFile>(s->config, s->env, s->out.get());
    ctx.metrics = s->metrics.get();
  }
  if (!LoadState(s->env.fs, ctx.state_path, &s->state, &err))
    return Fail(s->out.get(), kExitFailed, err);
  if (!RecoverOnOpen(&ctx, &s->state, &err)) {
    s->out->Finish(kExitFailed);  // RecoverOnOpen reported it
    return kExitFailed;
  }
  return kExitOk;
}

// Runs `op` inside a session and reports the final status. `op` reports its
// own errors (rollout.h). SIGINT/SIGTERM only set a flag that `op` checks
// between actions.
template <typename Op>
int RunTransition(const CommandLine& cl, Op op) {
  CatchStopSignals();
  Session s;
  if (int code = OpenSession(cl, &s)) return code;
  std::string err;
  ExitCode code = op(&s, &err);
  s.out->Set("status", StatusJson(s.state, s.config));
  s.out->Finish(code);
  return code;
}

bool LiveNginxProblems(Session* s, bool lua_only,
                       std::vector<std::string>* problems, int* code,
                       std::string* err,
                       std::vector<std::string>* warnings = nullptr);

// On the lua switch a deploy starts only when bgctl has the control key
// nginx's loaded file wants (kExitFailed naming the file otherwise) and the
// live configuration has what the switch needs (validate's lua checks;
// kExitUsage with validate's messages otherwise); nothing is started before.
// When `nginx -T` cannot tell, the switch's own answers decide later.
ExitCode CheckLuaBeforeDeploy(Session* s, std::string* err) {
  if (s->config.nginx.switch_kind != SwitchKind::kLua) return kExitOk;
  LuaSwitch sw(s->config, s->env, RealHttpPoster());
  if (!sw.CheckKey(err)) return Refuse(&s->ctx, kExitFailed, *err, err);
  std::vector<std::string> problems;
  int code = 0;
  std::string ignored;
  if (!LiveNginxProblems(s, /*lua_only=*/true, &problems, &code, &ignored) ||
      problems.empty())
    return kExitOk;
  for (size_t i = 0; i + 1 < problems.size(); ++i) s->out->Error(problems[i]);
  return Refuse(&s->ctx, kExitUsage,
                problems.back() +
                    " (deploy refused: `bgctl validate` "
                    "lists what the lua switch needs)",
                err);
}

int CmdDeploy(const CommandLine& cl) {
  std::string err;
  if (!ValidateVersion(cl.version, &err)) {
    Reporter out(RealClock(), cl.json);
    return Fail(&out, kExitUsage, err);
  }
  return RunTransition(cl, [&](Session* s, std::string* e) {
    std::vector<StepConfig> steps;
    if (cl.steps_given &&
        !ParseStepsFlag(cl.steps, s->config.rollout, &steps, e))
      return Refuse(&s->ctx, kExitUsage, "--steps: " + *e, e);
    if (ExitCode code = CheckLuaBeforeDeploy(s, e)) return code;
    // The first deploy takes the traffic of what served before bgctl
    // (adoption.h): it says what became of it.
    const std::vector<UpstreamServer> before =
        s->state.stable_slot.empty() ? ServersBeforeBgctl(s->config, s->env.fs)
                                     : std::vector<UpstreamServer>();
    const ExitCode code = Deploy(&s->ctx, &s->state, cl.version, steps, e);
    if (code == kExitOk && !before.empty() && !s->state.stable_slot.empty()) {
      nlohmann::json fields;
      const std::string notice = AdoptionNotice(before, s->env.http, &fields);
      s->out->Event("adopted", notice, fields);
    }
    return code;
  });
}

int CmdRotateKey(const CommandLine& cl) {
  return RunTransition(cl, [&](Session* s, std::string* err) {
    return RotateKey(&s->ctx, &s->state, err);
  });
}

int CmdPromote(const CommandLine& cl) {
  return RunTransition(cl, [&](Session* s, std::string* err) {
    return Promote(&s->ctx, &s->state, cl.full, err);
  });
}

int CmdSetWeight(const CommandLine& cl) {
  return RunTransition(cl, [&](Session* s, std::string* err) {
    return SetWeight(&s->ctx, &s->state, cl.weight, err);
  });
}

int CmdAbort(const CommandLine& cl) {
  return RunTransition(cl, [&](Session* s, std::string* err) {
    return Abort(&s->ctx, &s->state, err);
  });
}

int CmdRollback(const CommandLine& cl) {
  return RunTransition(cl, [&](Session* s, std::string* err) {
    return Rollback(&s->ctx, &s->state, err);
  });
}

// Internal: started detached by a promotion with keep_previous; sleeps, then
// stops the previous instance if it is still the one kept.
int CmdRetirePrevious(const CommandLine& cl) {
  int64_t after = 0;
  std::string err;
  if (!ParseDuration(cl.after, &after, &err)) {
    Reporter out(RealClock(), cl.json);
    return Fail(&out, kExitUsage, "--after: " + err);
  }
  RealClock()->SleepMs(after);
  // Another command may hold the lock for a while: wait for up to 10 min.
  CommandLine waiting = cl;
  waiting.lock_wait_ms = std::max<int64_t>(cl.lock_wait_ms, 10 * 60 * 1000);
  return RunTransition(waiting, [&](Session* s, std::string* e) {
    return RetirePrevious(&s->ctx, &s->state, e);
  });
}

// Where traffic goes when the state cannot say (traffic_unknown): what the
// upstream file holds (nginx serves it at its next start or reload) and
// the generation nginx serves now. *text gets lines for humans ("" when the
// traffic is known).
nlohmann::json TrafficStatus(const State& state, const Config& cfg, Env env,
                             std::string* text) {
  text->clear();
  if (!state.traffic_unknown) return {{"known", true}};
  nlohmann::json j = {{"known", false}, {"generation", state.generation}};
  std::string contents, err, file_text;
  UpstreamFileContents file;
  if (env.fs->ReadFile(cfg.nginx.upstream_file, &contents, &err) &&
      ParseUpstreamFile(contents, cfg.nginx.upstream_name, &file, &err)) {
    nlohmann::json servers = nlohmann::json::array();
    for (const UpstreamServer& u : file.servers) {
      std::string slot = u.port == cfg.blue_port    ? "blue"
                         : u.port == cfg.green_port ? "green"
                                                    : "";
      servers.push_back(
          {{"slot", slot}, {"port", u.port}, {"weight", u.weight}});
      file_text += (file_text.empty() ? "" : ", ") +
                   (slot.empty() ? "port" : slot + " port") + " " +
                   std::to_string(u.port) + " weight " +
                   std::to_string(u.weight);
    }
    j["file"] = {{"generation", file.generation}, {"servers", servers}};
    file_text = "generation " + std::to_string(file.generation) + ": " +
                (file_text.empty() ? "no server" : file_text);
  } else {
    j["file"] = {{"error", err}};
    file_text = "unreadable: " + err;
  }
  std::unique_ptr<TrafficSwitch> sw = MakeTrafficSwitch(cfg, env);
  uint64_t served = 0;
  std::string served_text;
  if (sw && sw->ServedGeneration(&served, &err)) {
    j["served_generation"] = served;
    served_text = "generation " + std::to_string(served);
  } else {
    j["served_generation"] = nullptr;
    served_text = "unknown (" + err + ")";
  }
  *text = "traffic: UNKNOWN, the last switch (generation " +
          std::to_string(state.generation) +
          ") was not confirmed\n  the upstream file holds " + file_text +
          "\n  nginx serves " + served_text +
          "\n  `bgctl abort`, `bgctl promote` or the next deploy put nginx, "
          "the file and the state back in agreement\n";
  return j;
}

int CmdStatus(const CommandLine& cl) {
  Session s;
  if (int code = LoadSessionConfig(cl, &s)) return code;
  std::string err;
  if (cl.watch) {
    int64_t interval = 0;
    if (!ParseDuration(cl.interval, &interval, &err))
      return Fail(s.out.get(), kExitUsage, "--interval: " + err);
    if (interval <= 0)
      return Fail(s.out.get(), kExitUsage,
                  "--interval: must be greater than 0, got " + cl.interval);
    if (cl.count < 0)
      return Fail(s.out.get(), kExitUsage,
                  "--count: must be 0 (until Ctrl-C) or more, got " +
                      std::to_string(cl.count));
    return WatchStatus(s.config, s.env, interval, cl.count);
  }
  State state;
  if (!LoadState(s.env.fs, StatePath(s.config), &state, &err))
    return Fail(s.out.get(), kExitFailed, err);
  // Without the lock: a rollout whose owner is gone is shown as interrupted.
  if (OwnerGone(state, s.env.processes)) state.phase = Phase::kInterrupted;
  // What runs in each slot now (a unit's state, restarts, boot).
  std::unique_ptr<SlotRunner> runner = MakeSlotRunner(s.config, s.env);
  RunnerStatuses live;
  if (runner) live = SlotStatuses(runner.get(), state);
  std::string traffic_text;
  nlohmann::json j = StatusJson(state, s.config, &live);
  j["traffic"] = TrafficStatus(state, s.config, s.env, &traffic_text);
  // The running evidence of the rollout's judge (analysis_file.h).
  const nlohmann::json analysis =
      ReadAnalysisOfDeploy(s.env.fs, AnalysisPath(s.config), state.deploy_id);
  j["analysis"] = analysis;
  s.out->Result(j);
  s.out->Block("status",
               StatusText(state, s.config, &live) + traffic_text +
                   AnalysisText(analysis),
               nullptr);
  s.out->Finish(kExitOk);
  return kExitOk;
}

int CmdHistory(const CommandLine& cl) {
  Session s;
  if (int code = LoadSessionConfig(cl, &s)) return code;
  std::vector<HistoryEntry> entries;
  std::string err;
  if (!ReadHistory(s.env.fs, HistoryPath(s.config), &entries, &err))
    return Fail(s.out.get(), kExitFailed, err);
  s.out->Result(HistoryJson(entries));
  s.out->Block("history", HistoryText(entries), nullptr);
  s.out->Finish(kExitOk);
  return kExitOk;
}

// A throwaway nginx config that includes only the rendered upstream file, so
// `nginx -t` checks bgctl's own output without touching the live files.
std::string ValidationConf(const std::string& dir, const Config& cfg) {
  return "pid " + dir +
         "/nginx.pid;\nerror_log stderr;\n"
         "events {}\nhttp {\n  client_body_temp_path " +
         dir +
         ";\n"
         "  proxy_temp_path " +
         dir + ";\n  fastcgi_temp_path " + dir +
         ";\n"
         "  uwsgi_temp_path " +
         dir + ";\n  scgi_temp_path " + dir +
         ";\n"
         "  access_log off;\n  include " +
         dir +
         "/upstream.conf;\n"
         "  server { listen 127.0.0.1:1; location / { proxy_pass http://" +
         cfg.nginx.upstream_name + "; } }\n}\n";
}

// Runs `nginx -T` (derived from test_command) and the checks of
// nginx_checks.h on what it prints (only the lua switch's with
// `lua_only`). False with *code and *err when nginx -T cannot tell:
// kExitUsage when test_command has no -t, kExitFailed when it fails.
bool LiveNginxProblems(Session* s, bool lua_only,
                       std::vector<std::string>* problems, int* code,
                       std::string* err, std::vector<std::string>* warnings) {
  const Config& cfg = s->config;
  *code = kExitUsage;
  if (DumpCommand(cfg.nginx.test_command).empty()) {
    *err = cfg.path +
           ": nginx.test_command: has no -t, so validate cannot derive "
           "`nginx -T` from it to check the live configuration";
    return false;
  }
  *code = kExitFailed;
  std::vector<NginxFile> files;
  if (!DumpNginxConf(s->env.processes, cfg.nginx.test_command, cfg.dir, &files,
                     err)) {
    *err = "cannot check the live nginx configuration: " + *err;
    return false;
  }
  const bool ok =
      lua_only ? CheckLuaNginxConf(files, cfg.nginx, problems, err)
               : CheckNginxConf(files, cfg.nginx,
                                NginxPrefixOf(cfg.nginx.test_command, cfg.dir),
                                problems, err, warnings);
  if (!ok) *err = "cannot read the live nginx configuration: " + *err;
  return ok;
}

// Checks what bgctl needs in the configuration nginx runs (`nginx -T`,
// nginx_checks.h): 0, or the exit code after reporting every problem
// (kExitUsage) or that nginx -T could not run (kExitFailed).
int CheckLiveNginx(Session* s) {
  std::vector<std::string> problems, warnings;
  int code = 0;
  std::string err;
  if (!LiveNginxProblems(s, /*lua_only=*/false, &problems, &code, &err,
                         &warnings))
    return Fail(s->out.get(), code, err);
  for (const std::string& w : warnings)
    s->out->Event("warning", "warning: " + w);
  if (problems.empty()) return 0;
  for (size_t i = 0; i + 1 < problems.size(); ++i) s->out->Error(problems[i]);
  return Fail(s->out.get(), kExitUsage, problems.back());
}

// On the lua switch: the control location answers as bgctl.lua's, and
// says whether nginx's loaded upstream file is the one the switch needs
// (when not, the next command that moves traffic migrates it: said here).
// 0, or the exit code after reporting: kExitUsage when control_url does
// not answer or answers as something else, kExitFailed when nginx's loaded
// file carries a control key and bgctl's cannot be read.
int CheckLuaControl(Session* s) {
  const Config& cfg = s->config;
  if (cfg.nginx.switch_kind != SwitchKind::kLua) return 0;
  ControlKey key;
  std::string key_err, err;
  const bool have_key =
      LoadControlKey(s->env.fs, cfg.state_dir, &key, &key_err);
  LuaSwitch sw(cfg, s->env, RealHttpPoster());
  LoadedLuaFile kind;
  if (!sw.Inspect(key, &kind, &err))
    return Fail(s->out.get(), kExitUsage,
                cfg.nginx.lua.control_url_where + ": " + err +
                    " (nginx must run with the control location: "
                    "nginx/README.md, \"The lua switch\")");
  if (kind == LoadedLuaFile::kReady) return 0;
  if (!have_key && kind == LoadedLuaFile::kOtherControl)
    return Fail(s->out.get(), kExitFailed,
                key_err +
                    " (nginx's loaded upstream file carries a control key; "
                    "`bgctl rotate-key` writes a new key and migrates nginx "
                    "with one confirmed reload)");
  s->out->Notice(
      "migrate",
      std::string("nginx's loaded upstream file ") + LoadedLuaFileText(kind) +
          ": the next command that moves traffic (deploy, set-weight, "
          "abort, promote, rollback, rotate-key) first migrates it with one "
          "confirmed reload, keeping the servers " +
          cfg.nginx.upstream_file + " names",
      {{"loaded_file", LoadedLuaFileText(kind)}});
  return 0;
}

// Checks the config, renders the upstream file for both slots into a
// temporary folder and has nginx test it, then runs the user's test command
// against the live configuration.
int CmdValidate(const CommandLine& cl) {
  Session s;
  if (int code = LoadSessionConfig(cl, &s)) return code;
  const Config& cfg = s.config;
  std::string err;
  char tmpl[] = "/tmp/bgctl-validate-XXXXXX";
  if (!mkdtemp(tmpl)) return Fail(s.out.get(), kExitFailed, "mkdtemp failed");
  std::string dir = tmpl;
  std::string upstream =
      RenderUpstream(cfg.nginx.upstream_name,
                     ServersForSplit(cfg.blue_port, cfg.green_port, 50), 1,
                     cfg.nginx.upstream_keepalive);
  bool ok = s.env.fs->WriteFileAtomic(dir + "/upstream.conf", upstream, &err) &&
            s.env.fs->WriteFileAtomic(dir + "/nginx.conf",
                                      ValidationConf(dir, cfg), &err);
  RunResult r;
  if (ok) {
    ok = s.env.processes->Run({cfg.nginx.test_command[0], "-t", "-q", "-c",
                               dir + "/nginx.conf", "-p", dir, "-e", "stderr"},
                              cfg.dir, 30000, &r, &err) &&
         r.exit_code == 0;
    if (!ok && err.empty())
      err = "rendered upstream rejected by nginx: " + r.output;
  }
  std::string ignored;
  for (const char* f : {"/upstream.conf", "/nginx.conf", "/nginx.pid"})
    s.env.fs->Remove(dir + f, &ignored);
  rmdir(dir.c_str());
  if (!ok) return Fail(s.out.get(), kExitUsage, err);
  ReloadSwitch nginx(cfg.nginx, cfg.dir, s.env);
  if (!nginx.Test(&err)) return Fail(s.out.get(), kExitUsage, err);
  if (!cfg.metrics.textfile.empty() &&
      !s.env.fs->Exists(DirOf(cfg.metrics.textfile)))
    return Fail(s.out.get(), kExitUsage,
                cfg.path + ": metrics.textfile: the folder " +
                    DirOf(cfg.metrics.textfile) +
                    " does not exist (node_exporter's "
                    "--collector.textfile.directory)");
  if (int code = CheckLiveNginx(&s)) return code;
  if (int code = CheckLuaControl(&s)) return code;
  s.out->Event("analysis",
               DescribeJudge(cfg.rollout.analysis, cfg.rollout.steps));
  s.out->Event("valid", cl.config_path +
                            ": configuration valid; the rendered upstream and "
                            "the live nginx configuration pass `nginx -t`, "
                            "and the live configuration has what bgctl "
                            "needs");
  s.out->Finish(kExitOk);
  return kExitOk;
}

}  // namespace

const std::vector<CommandInfo>& CommandTable() {
  static const std::vector<CommandInfo> table = {
      {"deploy",
       "start a version in the free slot, step traffic, analyse, "
       "promote or roll back",
       CmdDeploy, false},
      {"status", "where the service stands now, with the canary analysis",
       CmdStatus, false},
      {"promote", "continue a paused rollout (--full: go to 100% now)",
       CmdPromote, false},
      {"set-weight", "put PCT% (0-100) of traffic on the canary now",
       CmdSetWeight, false},
      {"abort", "stop the rollout: all traffic to stable, stop the canary",
       CmdAbort, false},
      {"rollback", "after a promotion: return traffic to the previous version",
       CmdRollback, false},
      {"history", "past deploys with their outcome", CmdHistory, false},
      {"validate", "check config, render nginx files, run the nginx test",
       CmdValidate, false},
      {"init",
       "for an existing nginx: write bgctl.yaml and nginx snippets, print "
       "the lines to add",
       CmdInit, false},
      {"rotate-key",
       "lua switch: a new control key, given to nginx with one confirmed "
       "reload",
       CmdRotateKey, false},
      {"retire-previous", "internal: stop the instance kept by keep_previous",
       CmdRetirePrevious, true},
  };
  return table;
}

}  // namespace bgctl
