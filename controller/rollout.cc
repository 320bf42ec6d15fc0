#include "controller/rollout.h"

#include <algorithm>
#include <memory>

#include "controller/analysis_file.h"
#include "controller/duration.h"
#include "controller/health.h"
#include "controller/judge.h"
#include "controller/metrics.h"
#include "controller/recovery.h"
#include "controller/rollout_log.h"
#include "controller/slot_runner.h"
#include "controller/watch.h"

namespace bgctl {
namespace {

// How often the hold loop reads the access log and judges the canary. Short,
// so a clearly bad canary is cut within a fraction of a second.
constexpr int64_t kTickMs = 20;
// CPU use is averaged over at least this long.
constexpr int64_t kCpuSampleMs = 500;
// The live view on a terminal is redrawn this often.
constexpr int64_t kViewRefreshMs = 250;
// state_dir/analysis.json is rewritten at most this often (and at every
// decision).
constexpr int64_t kEvidenceWriteMs = 500;

enum class RolloutPhase {
  kStartCanary,     // start the new version in the free slot
  kWaitHealthy,     // poll its health check until it is ready
  kPreTraffic,      // run the pre_traffic hook against it
  kShiftTraffic,    // set the next step's weight, confirm nginx reloaded
  kHoldAndAnalyse,  // hold the step's pause while judging the canary
  kPause,           // an indefinite pause: persist and exit 0
  kPromote,         // the canary becomes stable
  kRetireOld,       // drain and stop the previous instance
  kRollBack,        // traffic back to stable, canary stopped
  kDone,
};

class Rollout {
 public:
  // `resume`: the rollout continues one an earlier bgctl process drove
  // (promote): the judge continues that deploy's alpha budget from
  // state_dir/analysis.json.
  Rollout(RolloutContext* ctx, State* state, std::vector<StepConfig> steps,
          HistoryEntry entry, bool resume)
      : ctx_(ctx),
        cfg_(*ctx->config),
        state_(state),
        steps_(std::move(steps)),
        entry_(std::move(entry)),
        rollback_(state->owner_command == "rollback") {
    JudgeSetup setup;
    setup.stable_port = cfg_.PortOf(state->stable_slot);
    setup.canary_port = cfg_.PortOf(state->canary_slot);
    setup.steps = steps_;
    if (resume) {
      setup.resume = ReadAnalysisOfDeploy(ctx->env.fs, AnalysisPath(cfg_),
                                          state->deploy_id);
      if (setup.resume.is_null() && state->step_index >= 0 &&
          cfg_.rollout.analysis.method == AnalysisMethod::kSequential)
        ctx->out->Error("no analysis evidence of deploy " + state->deploy_id +
                        " in " + AnalysisPath(cfg_) +
                        ": its alpha budget starts again, so the false-"
                        "rollback bound holds for each part, not the deploy");
    }
    judge_ = MakeJudge(cfg_.rollout.analysis, setup);
  }

  // The rollout loop: one phase after another until done. Every phase
  // returns the next one; a stop request (SIGINT/SIGTERM to bgctl) turns
  // any phase before the promotion into an abort.
  ExitCode Run(RolloutPhase phase, std::string* err) {
    OpenAccessLog();
    while (phase != RolloutPhase::kDone) {
      if (ctx_->StopRequested() && !aborted_ && BeforePromotion(phase))
        phase = Stopped();
      switch (phase) {
        case RolloutPhase::kStartCanary:
          phase = StartCanary();
          break;
        case RolloutPhase::kWaitHealthy:
          phase = WaitHealthy();
          break;
        case RolloutPhase::kPreTraffic:
          phase = PreTraffic();
          break;
        case RolloutPhase::kShiftTraffic:
          phase = ShiftTraffic();
          break;
        case RolloutPhase::kHoldAndAnalyse:
          phase = HoldAndAnalyse();
          break;
        case RolloutPhase::kPause:
          phase = Pause();
          break;
        case RolloutPhase::kPromote:
          phase = PromoteCanary();
          break;
        case RolloutPhase::kRetireOld:
          phase = RetireOld();
          break;
        case RolloutPhase::kRollBack:
          phase = RollBack();
          break;
        case RolloutPhase::kDone:
          break;
      }
    }
    *err = reason_;
    return exit_;
  }

 private:
  static bool BeforePromotion(RolloutPhase p) {
    return p != RolloutPhase::kPromote && p != RolloutPhase::kRetireOld &&
           p != RolloutPhase::kRollBack && p != RolloutPhase::kDone;
  }

  // bgctl was asked to stop (SIGINT/SIGTERM, e.g. a cancelled CI job):
  // the rollout is aborted, traffic goes back to stable.
  RolloutPhase Stopped() {
    aborted_ = true;
    Fail(kExitFailed, "stop_signal",
         std::string(rollback_ ? "rollback" : "deploy") +
             " aborted: bgctl received a stop signal");
    return RolloutPhase::kRollBack;
  }

  // Marks the rollout failed with `reason` of `kind` (HistoryEntry's
  // reason_kind); the rollback phase reports it.
  void Fail(ExitCode code, const char* kind, const std::string& reason) {
    if (exit_ == kExitOk) {
      exit_ = code;
      reason_ = reason;
      reason_kind_ = kind;
    }
  }

  const std::string& canary() const { return state_->canary_slot; }
  SlotState& canary_state() { return state_->Slot(state_->canary_slot); }
  std::string Who() {
    return canary_state().version + " (" + canary() + ", port " +
           std::to_string(cfg_.PortOf(canary())) + ")";
  }

  void OpenAccessLog() {
    LogStatus(log_.Open(cfg_.nginx.access_log, ctx_->env.clock->NowMs()));
  }

  // Reads the log's new lines into `on_line`. An unreadable log is said
  // when it starts and when it ends; when it has been unreadable for one
  // analysis interval of a step under analysis, the step fails for lack of
  // data and on_no_data decides. False to roll back.
  bool ReadLog(const std::function<void(std::string_view)>& on_line) {
    return LogStatus(log_.Poll(on_line, ctx_->env.clock->NowMs()));
  }

  bool LogStatus(RolloutLog::Status status) {
    const std::string& path = cfg_.nginx.access_log;
    switch (status) {
      case RolloutLog::Status::kReadable:
        return true;
      case RolloutLog::Status::kReadableAgain:
        ctx_->out->Event("log_readable",
                         "the access log " + path +
                             " is readable again after " +
                             FormatDuration(log_.last_outage_ms()),
                         {{"unreadable_ms", log_.last_outage_ms()}});
        return true;
      case RolloutLog::Status::kBecameUnreadable:
        ctx_->out->Notice("log_error",
                          "cannot read the access log: " + log_.error() +
                              " (the judge sees no request while it lasts)",
                          {{"error", log_.error()}});
        break;
      case RolloutLog::Status::kUnreadable:
        break;
    }
    return LogBlindStep();
  }

  // The log is unreadable: fails the step under analysis (once) when that
  // has lasted one analysis interval of it. False to roll back.
  bool LogBlindStep() {
    const int64_t now = ctx_->env.clock->NowMs();
    const int64_t blind =
        now - std::max(log_.unreadable_since_ms(), step_started_ms_);
    if (!analysing_ || log_failed_step_ == state_->step_index ||
        blind < cfg_.rollout.analysis.interval_ms)
      return true;
    log_failed_step_ = state_->step_index;
    const std::string why =
        "step " + std::to_string(state_->step_index + 1) + " at " +
        std::to_string(steps_[state_->step_index].weight) +
        "%: no data: the access log could not be read for " +
        FormatDuration(blind) + ": " + log_.error();
    if (cfg_.rollout.analysis.on_no_data == OnNoData::kRollback) {
      Fail(kExitRolledBack, "no_data", why + " (on_no_data: rollback)");
      return false;
    }
    ctx_->out->Notice("no_data", why + "; continuing (on_no_data: continue)",
                      {{"step", state_->step_index},
                       {"unreadable_ms", blind},
                       {"error", log_.error()}});
    return true;
  }

  // The intent (the new instance's tag) is saved before the start, so a
  // bgctl killed in between leaves a state the next command can reconcile.
  RolloutPhase StartCanary() {
    std::string err;
    if (!StartSlot(ctx_, state_, canary(), canary_state().version, &err)) {
      Fail(kExitFailed, "start", "cannot start " + Who() + ": " + err);
      return RolloutPhase::kRollBack;
    }
    return RolloutPhase::kWaitHealthy;
  }

  // The last lines the canary wrote (its log or journal).
  std::string CanaryOutput() {
    return ctx_->runner->RecentOutput(canary(), canary_state().instance, 10);
  }

  bool CanaryAlive() { return ctx_->runner->IsAlive(canary_state().instance); }

  // The stable instance died during the rollout: say so once. Its share of
  // requests fails or is retried on the canary, a rollback has nothing
  // running to return to, and it will not be drained at the promotion.
  void WatchStable() {
    if (stable_gone_ || state_->stable_slot.empty()) return;
    SlotState& stable = state_->Slot(state_->stable_slot);
    if (ctx_->runner->IsAlive(stable.instance)) return;
    stable_gone_ = true;
    ctx_->out->Error("the stable version " + stable.version + " (" +
                     state_->stable_slot + ", pid " +
                     std::to_string(stable.instance.process.pid) +
                     ") is not running: its share of the traffic fails or is "
                     "retried on the canary, and a rollback has nothing "
                     "running to return to");
  }

  RolloutPhase WaitHealthy() {
    HealthResult r = bgctl::WaitHealthy(
        ctx_->env, cfg_.backend.health, cfg_.PortOf(canary()),
        [this] { return CanaryAlive(); }, ctx_->stop_requested);
    switch (r.outcome) {
      case HealthOutcome::kHealthy:
        ctx_->out->Event("healthy",
                         Who() + " healthy after " +
                             std::to_string(r.elapsed_ms) + " ms (" +
                             std::to_string(r.checks) + " checks)",
                         {{"healthy_ms", r.elapsed_ms}});
        // A rollout resumed after its canary already had traffic does not
        // run pre_traffic again.
        return state_->step_index < 0 ? RolloutPhase::kPreTraffic
                                      : RolloutPhase::kShiftTraffic;
      case HealthOutcome::kExited:
        Fail(kExitRolledBack, "crash",
             Who() + " exited while starting; last lines of its log:\n" +
                 CanaryOutput());
        return RolloutPhase::kRollBack;
      case HealthOutcome::kCancelled:
        return Stopped();
      case HealthOutcome::kDeadline:
        break;
    }
    Fail(kExitRolledBack, "health",
         Who() + " not healthy within " +
             FormatDuration(cfg_.backend.health.deadline_ms) + " (" +
             std::to_string(r.checks) + " checks, last: " + r.last_error + ")");
    return RolloutPhase::kRollBack;
  }

  RolloutPhase PreTraffic() {
    std::string err;
    if (rollback_) return RolloutPhase::kShiftTraffic;  // it served before
    // The preview header reaches the canary only while a split names it:
    // a 0% split first, so the hook can try it through nginx.
    if (!cfg_.hooks.pre_traffic.empty() && ctx_->traffic->PinsRequests() &&
        !cfg_.nginx.lua.preview_header.empty() &&
        !state_->stable_slot.empty() &&
        SwitchTraffic(ctx_, state_, 0, &err) != SwitchOutcome::kConfirmed) {
      Fail(kExitFailed, "switch", err);
      return RolloutPhase::kRollBack;
    }
    if (!RunHook(ctx_, "pre_traffic", cfg_.hooks.pre_traffic, *state_, canary(),
                 &err)) {
      Fail(kExitRolledBack, "pre_traffic", err);
      return RolloutPhase::kRollBack;
    }
    return RolloutPhase::kShiftTraffic;
  }

  RolloutPhase ShiftTraffic() {
    state_->step_index++;
    const StepConfig& step = steps_[state_->step_index];
    std::string err;
    // A fresh window from the moment the reload starts: what the log holds
    // now was served under the previous step. Canary requests answered while
    // nginx confirms the reload count: an error rate or a p99 per request
    // does not depend on the weight, and cutting a bad canary early matters.
    analysing_ = false;
    ReadLog([](std::string_view) {});
    step_started_ms_ = ctx_->env.clock->NowMs();
    analysing_ = true;
    judge_->BeginStep(state_->step_index, step.weight, step_started_ms_);
    // Only requests that start from now on are the step's (analysis.h).
    judge_->CountFrom(ctx_->env.clock->WallMs());
    // A switch that is not confirmed leaves state->traffic_unknown set:
    // the rollback then puts everything on stable again, whatever the
    // weight the state last confirmed.
    if (SwitchTraffic(ctx_, state_, step.weight, &err) !=
        SwitchOutcome::kConfirmed) {
      Fail(kExitFailed, "switch", err);
      return RolloutPhase::kRollBack;
    }
    entry_.steps_reached = state_->step_index + 1;
    if (step.pause_forever) return RolloutPhase::kPause;
    return RolloutPhase::kHoldAndAnalyse;
  }

  // Holds the current step for its pause. Each tick reads the new access-log
  // lines, judges closed windows, and watches the canary's process and
  // health. Any limit tripped means rollback.
  RolloutPhase HoldAndAnalyse() {
    const StepConfig& step = steps_[state_->step_index];
    Clock* clock = ctx_->env.clock;
    int64_t start = clock->NowMs();
    int64_t next_health = start + cfg_.backend.health.interval_ms;
    int health_failures = 0;
    while (clock->NowMs() - start < step.pause_ms) {
      if (ctx_->StopRequested()) return Stopped();
      if (!CanaryAlive()) {
        Fail(kExitRolledBack, "crash",
             Who() + " exited during the rollout; last lines of its log:\n" +
                 CanaryOutput());
        return RolloutPhase::kRollBack;
      }
      WatchStable();
      if (!JudgeNewLines()) return RolloutPhase::kRollBack;
      if (clock->NowMs() >= next_health) {
        next_health += cfg_.backend.health.interval_ms;
        if (!CheckHealth(&health_failures)) return RolloutPhase::kRollBack;
      }
      ShowLiveView();
      clock->SleepMs(kTickMs);
    }
    if (!JudgeNewLines() || !JudgeStepEnd()) return RolloutPhase::kRollBack;
    if (state_->step_index + 1 < static_cast<int>(steps_.size()))
      return RolloutPhase::kShiftTraffic;
    return RolloutPhase::kPromote;
  }

  // Feeds new log lines to the judge and judges them. False on a rejection.
  bool JudgeNewLines() {
    if (!ReadLog([&](std::string_view line) { judge_->AddLine(line); }))
      return false;
    const Decision d =
        judge_->Update(ctx_->env.clock->NowMs(), CanaryCpuPercent());
    if (d.kind == DecisionKind::kReject) return Reject(d);
    ReportJudge(d.kind != DecisionKind::kContinue);
    return true;
  }

  // A rejection: the judge's events now, its evidence files once the
  // traffic is off the canary (RollBack), so no write delays the cut.
  bool Reject(const Decision& d) {
    PrintJudgeEvents();
    Fail(kExitRolledBack, "analysis", "analysis: " + d.reason);
    return false;
  }

  // The step's pause is over: its decision. A step that could not have
  // rejected anything is on_no_data's to decide. False to roll back.
  bool JudgeStepEnd() {
    const StepConfig& step = steps_[state_->step_index];
    const Decision d =
        judge_->EndStep(ctx_->env.clock->NowMs(), CanaryCpuPercent());
    if (d.kind == DecisionKind::kReject) return Reject(d);
    ReportJudge(true);
    const std::string at = "step " + std::to_string(state_->step_index + 1) +
                           " at " + std::to_string(step.weight) + "%";
    switch (d.kind) {
      case DecisionKind::kNoData: {
        const std::string why =
            "no verdict at " + std::to_string(step.weight) + "%: " + d.reason;
        if (cfg_.rollout.analysis.on_no_data == OnNoData::kRollback) {
          Fail(kExitRolledBack, "no_data", why + " (on_no_data: rollback)");
          return false;
        }
        ctx_->out->Event("no_data",
                         why + "; continuing (on_no_data: continue)");
        return true;
      }
      default:
        ctx_->out->Event(
            "decision", at + ": pass (" + d.reason + ")",
            {{"step", state_->step_index}, {"decision", DecisionName(d.kind)}});
        return true;
    }
  }

  // Prints the judge's events, and keeps state_dir/analysis.json current:
  // at most every kEvidenceWriteMs, and at once when `decided`.
  void ReportJudge(bool decided) {
    PrintJudgeEvents();
    const int64_t now = ctx_->env.clock->NowMs();
    if (!decided && evidence_written_ && now - evidence_at_ < kEvidenceWriteMs)
      return;
    evidence_written_ = true;
    evidence_at_ = now;
    std::string err;
    const nlohmann::json evidence = judge_->EvidenceJson();
    if (!WriteAnalysis(ctx_->env.fs, AnalysisPath(cfg_), cfg_.service,
                       state_->deploy_id, ctx_->env.clock->WallMs(), evidence,
                       &err) &&
        !evidence_error_shown_) {
      evidence_error_shown_ = true;
      ctx_->out->Error("cannot write the analysis evidence: " + err +
                       " (reported, not fatal)");
    }
    if (ctx_->metrics)
      ctx_->metrics->AnalysisWritten(state_->deploy_id, evidence);
  }

  void PrintJudgeEvents() {
    for (const JudgeEvent& e : judge_->TakeEvents())
      ctx_->out->Event(e.kind, e.message, e.fields);
  }

  // On a terminal: the `status --watch` view of the step so far, with the
  // judge's evidence, redrawn under the event lines.
  void ShowLiveView() {
    int64_t now = ctx_->env.clock->NowMs();
    if (!ctx_->out->live() || now - view_drawn_at_ < kViewRefreshMs) return;
    view_drawn_at_ = now;
    WatchFrame frame;
    frame.state = *state_;
    const JudgeLive live = judge_->Live();
    const bool canary_blue = canary() == "blue";
    (canary_blue ? frame.blue : frame.green) = live.canary;
    (canary_blue ? frame.green : frame.blue) = live.stable;
    frame.interval_ms = std::max<int64_t>(1, now - live.span_start_ms);
    frame.elapsed_ms = ctx_->out->ElapsedMs();
    frame.analysis = judge_->EvidenceJson();
    frame.width = TerminalWidth();
    ctx_->out->Footer(RenderFrame(frame, cfg_, /*terminal=*/true));
  }

  bool CheckHealth(int* failures) {
    std::string err;
    if (CheckHealthOnce(ctx_->env, cfg_.backend.health, cfg_.PortOf(canary()),
                        &err)) {
      *failures = 0;
      return true;
    }
    if (++*failures < cfg_.backend.health.healthy_threshold) return true;
    Fail(kExitRolledBack, "health",
         Who() + " failed " + std::to_string(*failures) +
             " health checks in a row: " + err);
    return false;
  }

  // The canary's CPU use in percent of one core over the last sample span.
  double CanaryCpuPercent() {
    int64_t now = ctx_->env.clock->NowMs(), cpu = 0;
    if (now - cpu_sampled_at_ < kCpuSampleMs) return cpu_percent_;
    if (ctx_->runner->CpuTimeMs(canary_state().instance, &cpu)) {
      if (cpu_sampled_at_ > 0)
        cpu_percent_ = 100.0 * static_cast<double>(cpu - cpu_ms_) /
                       static_cast<double>(now - cpu_sampled_at_);
      cpu_ms_ = cpu;
      cpu_sampled_at_ = now;
    }
    return cpu_percent_;
  }

  RolloutPhase Pause() {
    std::string err;
    state_->phase = Phase::kPaused;
    state_->owner_pid = 0;
    Decide("paused");
    if (!Persist(ctx_, state_, &err)) Fail(kExitFailed, "state", err);
    ReportJudge(true);  // the budget a later promote continues from
    ctx_->out->Event(
        "paused",
        "paused at " + std::to_string(state_->canary_weight) + "% on " + Who() +
            ": run `bgctl promote` to continue, `bgctl set-weight " +
            "PCT` to step by hand, `bgctl abort` to stop",
        {{"weight", state_->canary_weight}});
    Finish();
    return RolloutPhase::kDone;
  }

  RolloutPhase PromoteCanary() {
    std::string err;
    state_->previous_slot = state_->stable_slot;
    state_->previous_version = state_->stable_slot.empty()
                                   ? ""
                                   : state_->Slot(state_->stable_slot).version;
    state_->stable_slot = state_->canary_slot;
    state_->canary_slot.clear();
    state_->canary_weight = 0;
    state_->phase = rollback_ ? Phase::kRolledBack : Phase::kPromoted;
    state_->owner_pid = 0;
    // A rollback uses the previous version up: it is not rolled back. It is
    // the operator's choice, not an error: history keeps the reason.
    if (rollback_) {
      state_->previous_version.clear();
      entry_.reason = "rolled back by the operator";
      entry_.reason_kind = "operator";
    }
    Decide(rollback_ ? "rolled_back" : "promoted");
    if (!Persist(ctx_, state_, &err)) Fail(kExitFailed, "state", err);
    const SlotState& stable = state_->Slot(state_->stable_slot);
    if (rollback_) {
      ctx_->out->Event("rolled_back", "rolled back to " + stable.version +
                                          " (" + state_->stable_slot + ")");
    } else {
      ctx_->out->Event("promoted", "promoted " + stable.version + " (" +
                                       state_->stable_slot + ") to stable");
    }
    if (!ctx_->runner->SetBootSlot(state_->stable_slot, &err))
      ctx_->out->Error("cannot make " + state_->stable_slot +
                       " the slot that starts at boot: " + err +
                       " (reported, not fatal)");
    const char* hook = rollback_ ? "on_rollback" : "post_promote";
    if (!RunHook(ctx_, hook,
                 rollback_ ? cfg_.hooks.on_rollback : cfg_.hooks.post_promote,
                 *state_, state_->stable_slot, &err))
      ctx_->out->Error(err + " (reported, not fatal)");
    // At 100% the split still names the old stable for pinned requests
    // (PinsRequests): the rollout ends with one that names only the new
    // stable, before the old one drains.
    if (ctx_->traffic->PinsRequests() &&
        SwitchToStable(ctx_, state_, &err) != SwitchOutcome::kConfirmed) {
      Fail(kExitFailed, "switch",
           "the split naming only " + state_->stable_slot +
               " was not confirmed: " + err + "; " +
               (state_->previous_slot.empty() ? std::string("nothing")
                                              : state_->previous_slot) +
               " keeps running until a switch is confirmed");
      ctx_->out->Error(reason_);
      Finish();
      return RolloutPhase::kDone;
    }
    return RolloutPhase::kRetireOld;
  }

  // The old instance is signalled only now, after the switch to the new one
  // was confirmed: its in-flight requests finish while it drains.
  RolloutPhase RetireOld() {
    std::string err;
    const std::string old = state_->previous_slot;
    if (!old.empty() && state_->Slot(old).instance.process.pid != 0) {
      if (cfg_.rollout.keep_previous_ms > 0 && !rollback_) {
        KeepPrevious(old);
      } else if (!StopSlot(ctx_, state_, old, &err)) {
        Fail(kExitFailed, "drain", err);
      }
    }
    if (rollback_ && state_->Slot(old).instance.process.pid == 0) {
      state_->previous_slot.clear();
      if (!Persist(ctx_, state_, &err)) Fail(kExitFailed, "state", err);
    }
    Finish();
    return RolloutPhase::kDone;
  }

  // Leaves the previous instance running for keep_previous and starts a
  // detached `bgctl retire-previous` that stops it when the time is up.
  void KeepPrevious(const std::string& old) {
    std::string err;
    state_->previous_expires_ms =
        ctx_->env.clock->WallMs() + cfg_.rollout.keep_previous_ms;
    Persist(ctx_, state_, &err);
    SpawnSpec spec;
    spec.argv = ctx_->self_argv;
    spec.argv.insert(spec.argv.end(),
                     {"retire-previous", "--after",
                      std::to_string(cfg_.rollout.keep_previous_ms) + "ms"});
    spec.log_path = cfg_.state_dir + "/logs/bgctl-retire.log";
    ProcessId timer;
    if (!ctx_->env.processes->Spawn(spec, &timer, &err))
      ctx_->out->Error("cannot start the keep_previous timer: " + err);
    ctx_->out->Event("kept", "previous instance " + state_->Slot(old).version +
                                 " (" + old + ") kept for " +
                                 FormatDuration(cfg_.rollout.keep_previous_ms) +
                                 " for an instant rollback");
  }

  // Traffic back to stable (confirmed), then the canary drained and stopped.
  // When nginx does not confirm the switch, the canary keeps running (it
  // may still get requests) and the state says the traffic is unknown: the
  // next command finishes the job.
  RolloutPhase RollBack() {
    std::string err;
    // The outcome first, so every save on the way back already says it: a
    // bgctl killed in the middle leaves a state that `abort` finishes.
    // A rollback that fails leaves the service as it was: promoted, the
    // previous version still on record for another try.
    if (rollback_ && exit_ == kExitRolledBack) exit_ = kExitFailed;
    // bgctl's own verdict (analysis, health, crash, a hook): said when it
    // is taken, so the time until the 0% "weight" event is the cut's cost.
    if (exit_ == kExitRolledBack)
      ctx_->out->Event(
          "rolling_back",
          "rolling back (" + std::string(reason_kind_) + "): " +
              (state_->stable_slot.empty()
                   ? "stopping " + Who()
                   : "all traffic to " +
                         state_->Slot(state_->stable_slot).version + " (" +
                         state_->stable_slot + ")"),
          {{"reason_kind", reason_kind_}});
    if (rollback_ && !aborted_ && state_->traffic_unknown)
      return RollbackUnconfirmed();
    state_->phase = rollback_  ? Phase::kPromoted
                    : aborted_ ? Phase::kAborted
                               : Phase::kRolledBack;
    state_->owner_pid = 0;
    state_->last_error = reason_;
    entry_.reason = reason_;
    entry_.reason_kind = reason_kind_;
    Decide(rollback_ ? "failed" : aborted_ ? "aborted" : "rolled_back");
    if (!EndRollout(ctx_, state_, /*always_switch=*/false, &err))
      ctx_->out->Error("could not move traffic back to stable: " + err +
                       "; the canary keeps running until the next command "
                       "can confirm the switch");
    Persist(ctx_, state_, &err);
    if (reason_kind_ == "analysis") ReportJudge(true);  // Reject's evidence
    ctx_->out->Error((rollback_  ? "rollback failed: "
                      : aborted_ ? "aborted: "
                                 : "rolled back: ") +
                     reason_);
    const std::string table = judge_->EvidenceTable();
    if (!table.empty())
      ctx_->out->Block("analysis", table, judge_->EvidenceJson());
    if (!aborted_ && !rollback_ &&
        !RunHook(ctx_, "on_rollback", cfg_.hooks.on_rollback, *state_,
                 state_->stable_slot, &err))
      ctx_->out->Error(err + " (reported, not fatal)");
    Finish();
    return RolloutPhase::kDone;
  }

  // A rollback whose switch nginx did not confirm (nginx down): the
  // upstream file already sends everything to the previous version, which
  // keeps running, and so does the demoted one. Moving traffic "back"
  // would lose what the operator asked for, so the rollback stays under
  // way, interrupted: `bgctl rollback` (or `promote`) resumes it once nginx
  // runs, `bgctl abort` stays on the current version.
  RolloutPhase RollbackUnconfirmed() {
    std::string err;
    const std::string current = state_->Slot(state_->stable_slot).version;
    reason_ = "rollback to " + canary_state().version +
              " not confirmed: " + reason_ +
              "; `bgctl rollback` resumes it once nginx runs, `bgctl abort` "
              "stays on " +
              current;
    state_->phase = Phase::kInterrupted;
    state_->owner_pid = 0;
    state_->last_error = reason_;
    entry_.reason = reason_;
    entry_.reason_kind = reason_kind_;
    Decide("interrupted");
    if (!Persist(ctx_, state_, &err)) Fail(kExitFailed, "state", err);
    ctx_->out->Error(reason_);
    Finish();
    return RolloutPhase::kDone;
  }

  // The outcome of this command, saved as the state's pending history line
  // with the next Persist (Finish appends it).
  void Decide(const char* outcome) {
    entry_.outcome = outcome;
    entry_.ended_ms = ctx_->env.clock->WallMs();
    state_->pending_history = entry_;
  }

  void Finish() {
    std::string err;
    entry_.ended_ms = ctx_->env.clock->WallMs();
    state_->pending_history = entry_;
    if (!CommitHistory(ctx_, state_, &err)) Fail(kExitFailed, "state", err);
    // --output json: every decision the judge made, and its evidence.
    ctx_->out->Set("analysis", judge_->EvidenceJson());
  }

  RolloutContext* ctx_;
  const Config& cfg_;
  State* state_;
  std::vector<StepConfig> steps_;
  HistoryEntry entry_;
  RolloutLog log_;
  bool analysing_ = false;       // a step's judge is under way
  int64_t step_started_ms_ = 0;  // when it began (clock->NowMs)
  int log_failed_step_ = -1;     // the step the unreadable log failed
  std::unique_ptr<CanaryJudge> judge_;
  bool evidence_written_ = false, evidence_error_shown_ = false;
  int64_t evidence_at_ = 0;
  int64_t view_drawn_at_ = 0;
  int64_t cpu_ms_ = 0, cpu_sampled_at_ = 0;
  double cpu_percent_ = 0;
  bool aborted_ = false;
  bool stable_gone_ = false;  // reported once by WatchStable
  // A rollback back to the previous version (owner_command "rollback"):
  // no pre_traffic, the previous use of the slot ends at the promotion.
  const bool rollback_;
  ExitCode exit_ = kExitOk;
  std::string reason_;
  std::string reason_kind_;
};

// Why a new deploy cannot start while `state` has a rollout under way.
std::string UnderWay(const State& state) {
  const std::string phase = PhaseName(state.phase);
  const std::string& version = state.Slot(state.canary_slot).version;
  if (state.owner_command == "rollback")
    return "a rollback to " + version + " is under way (phase " + phase +
           "): `bgctl rollback` resumes it, `bgctl abort` stays on " +
           state.Slot(state.stable_slot).version;
  return "a rollout of " + version + " is under way (phase " + phase +
         "): use `bgctl promote`, `bgctl set-weight` or `bgctl abort`";
}

// A switch that was never confirmed: nginx, the file and the state are put
// back in agreement (all traffic on stable) before anything else moves.
bool SettleTraffic(RolloutContext* ctx, State* state, std::string* err) {
  if (!state->traffic_unknown || state->stable_slot.empty() ||
      SwitchTraffic(ctx, state, 0, err) == SwitchOutcome::kConfirmed)
    return true;
  Refuse(ctx, kExitFailed, "nginx does not confirm the current split: " + *err,
         err);
  return false;
}

// The history entry of a deploy or promote of the rollout in `state`.
HistoryEntry NewEntry(RolloutContext* ctx, const State& state,
                      const std::string& command) {
  auto version_of = [&](const std::string& slot) {
    return slot.empty() ? std::string() : state.Slot(slot).version;
  };
  return StartHistoryEntry(ctx, state, state.deploy_id, command,
                           version_of(state.canary_slot),
                           version_of(state.stable_slot));
}

}  // namespace

ExitCode Deploy(RolloutContext* ctx, State* state, const std::string& version,
                const std::vector<StepConfig>& steps, std::string* err) {
  // A rollback or abort that could not move traffic back (nginx could not
  // be told) left its canary running: finish it before a new version comes.
  if (!FinishEndedRollout(ctx, state, err)) return kExitFailed;
  if (!state->canary_slot.empty())
    return Refuse(ctx, kExitFailed, UnderWay(*state), err);
  if (!SettleTraffic(ctx, state, err)) return kExitFailed;
  std::vector<StepConfig> plan =
      steps.empty() ? ctx->config->rollout.steps : steps;
  // The very first deploy, with nothing stable yet, goes to 100% once healthy.
  if (state->stable_slot.empty()) plan = {StepConfig{100, 0, false}};
  state->canary_slot = state->stable_slot == "blue" ? "green" : "blue";
  if (state->stable_slot.empty()) state->canary_slot = "blue";
  // The free slot may still hold the instance kept for an instant rollback;
  // it gets no traffic, so it can go before the new version takes the slot.
  if (!StopSlot(ctx, state, state->canary_slot, err)) {
    state->canary_slot.clear();
    std::string ignored;
    Persist(ctx, state, &ignored);
    return kExitFailed;  // reported by StopSlot
  }
  state->Slot(state->canary_slot).version = version;
  state->phase = Phase::kProgressing;
  state->owner_pid = ctx->self.pid;
  state->owner_start_time = ctx->self.start_time;
  state->deploy_id = NewDeployId(ctx);
  state->step_index = -1;
  state->step_count = static_cast<int>(plan.size());
  state->steps.clear();
  for (const StepConfig& s : plan) state->steps.push_back(s.weight);
  state->canary_weight = 0;
  state->last_error.clear();
  state->owner_command = "deploy";
  if (!Persist(ctx, state, err)) return kExitFailed;
  Rollout rollout(ctx, state, plan, NewEntry(ctx, *state, "deploy"),
                  /*resume=*/false);
  return rollout.Run(RolloutPhase::kStartCanary, err);
}

ExitCode Promote(RolloutContext* ctx, State* state, bool full,
                 std::string* err) {
  if (!FinishEndedRollout(ctx, state, err)) return kExitFailed;
  if (state->canary_slot.empty())
    return Refuse(ctx, kExitFailed,
                  "no rollout to promote (phase " +
                      std::string(PhaseName(state->phase)) + ")",
                  err);
  // An interrupted rollout resumes: its canary is health-checked again, or
  // started again when the interruption left none running.
  const bool interrupted = state->phase == Phase::kInterrupted;
  const bool alive =
      ctx->runner->IsAlive(state->Slot(state->canary_slot).instance);
  if (!alive && !interrupted)
    return Refuse(ctx, kExitFailed,
                  "the canary " + state->Slot(state->canary_slot).version +
                      " is not running: use `bgctl abort`",
                  err);
  // Rebuild the plan from the weights recorded when the rollout started; the
  // remaining steps run with their configured pauses when the config still
  // has the same weights, and without pauses otherwise.
  std::vector<StepConfig> plan;
  for (size_t i = 0; i < state->steps.size(); ++i) {
    StepConfig s{state->steps[i], 0, false};
    const auto& configured = ctx->config->rollout.steps;
    if (i < configured.size() && configured[i].weight == s.weight)
      s = configured[i];
    plan.push_back(s);
  }
  if (plan.empty() || plan.back().weight != 100)
    plan.push_back({100, 0, false});
  // Steps already passed, or at or below the current weight, are not repeated.
  int index = state->step_index;
  while (index + 1 < static_cast<int>(plan.size()) &&
         plan[index + 1].weight <= state->canary_weight)
    ++index;
  // --full: straight to the last step (100%), with no pause on the way.
  if (full) index = static_cast<int>(plan.size()) - 2;
  // At the last step already (set-weight 100, or paused at 100%): apply it
  // again and promote. Promote always continues past the last step's pause.
  index = std::min(index, static_cast<int>(plan.size()) - 2);
  plan.back().pause_forever = false;
  state->step_index = index;
  state->step_count = static_cast<int>(plan.size());
  state->phase = Phase::kProgressing;
  state->owner_pid = ctx->self.pid;
  state->owner_start_time = ctx->self.start_time;
  // A rollback that was interrupted goes on as a rollback.
  if (state->owner_command != "rollback")
    state->owner_command = full ? "promote --full" : "promote";
  if (!Persist(ctx, state, err)) return kExitFailed;
  RolloutPhase start = RolloutPhase::kShiftTraffic;
  if (interrupted && alive) start = RolloutPhase::kWaitHealthy;
  if (!alive) {
    // Whatever the interrupted start left (a tag, a dead pid) goes first.
    if (!StopSlot(ctx, state, state->canary_slot, err)) return kExitFailed;
    start = RolloutPhase::kStartCanary;
  }
  Rollout rollout(ctx, state, plan, NewEntry(ctx, *state, state->owner_command),
                  /*resume=*/true);
  return rollout.Run(start, err);
}

ExitCode Rollback(RolloutContext* ctx, State* state, std::string* err) {
  if (!FinishEndedRollout(ctx, state, err)) return kExitFailed;
  // A rollback that stopped before it was done (killed, or nginx did not
  // confirm its switch) is resumed, as `promote` would.
  if (!state->canary_slot.empty() && state->owner_command == "rollback") {
    ctx->out->Event("resume", "resuming the rollback to " +
                                  state->Slot(state->canary_slot).version);
    return Promote(ctx, state, /*full=*/false, err);
  }
  if (!state->canary_slot.empty())
    return Refuse(ctx, kExitFailed,
                  "a rollout is under way: use `bgctl abort` to stop it", err);
  // The previous version of the last promotion stays on record through a
  // later deploy that was rolled back or aborted; a rollback uses it up.
  if (state->previous_slot.empty() || state->previous_version.empty())
    return Refuse(ctx, kExitFailed,
                  std::string("nothing to roll back to") +
                      (state->phase == Phase::kRolledBack
                           ? ": the last operation was already a rollback"
                           : ": no promotion with a previous version on "
                             "record"),
                  err);
  if (!SettleTraffic(ctx, state, err)) return kExitFailed;
  // A rollback is a rollout of the previous version, straight to 100%: its
  // intent is in state.json like a deploy's, so `abort` and `promote` can
  // take it from wherever bgctl stops.
  const std::string slot = state->previous_slot;
  SlotState& previous = state->Slot(slot);
  previous.version = state->previous_version;
  state->canary_slot = slot;
  state->canary_weight = 0;
  state->phase = Phase::kProgressing;
  state->owner_pid = ctx->self.pid;
  state->owner_start_time = ctx->self.start_time;
  state->owner_command = "rollback";
  state->deploy_id = NewDeployId(ctx);
  state->steps = {100};
  state->step_index = -1;
  state->step_count = 1;
  state->last_error.clear();
  if (!Persist(ctx, state, err)) return kExitFailed;
  // While the previous instance lives and answers its health check, the
  // rollback is one confirmed switch; otherwise it is started again.
  RolloutPhase start = RolloutPhase::kShiftTraffic;
  std::string health_err;
  if (!ctx->runner->IsAlive(previous.instance) ||
      !CheckHealthOnce(ctx->env, ctx->config->backend.health,
                       ctx->config->PortOf(slot), &health_err)) {
    if (!StopSlot(ctx, state, slot, err)) return kExitFailed;
    start = RolloutPhase::kStartCanary;
  }
  Rollout rollout(ctx, state, {StepConfig{100, 0, false}},
                  NewEntry(ctx, *state, "rollback"), /*resume=*/false);
  return rollout.Run(start, err);
}

}  // namespace bgctl
