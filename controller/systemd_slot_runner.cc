#include "controller/systemd_slot_runner.h"

#include <cstdlib>
#include <filesystem>

#include "controller/config_yaml.h"
#include "controller/failpoint.h"
#include "controller/systemd_unit.h"

namespace bgctl {

namespace {

// The unit's state is asked at most this often by IsAlive (the main
// process itself is checked at every call, from /proc).
constexpr int64_t kUnitCheckMs = 1000;
// How long Start looks for the MainPID's tag (a Type=simple template's
// child may not have exec'd yet when `systemctl restart` returns).
constexpr int kFindAttempts = 50;
constexpr int64_t kFindPollMs = 20;

const char* const kCgroupRoots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};

int ToInt(const std::string& s) {
  long long v = 0;
  return ParseInt(s, &v) && v > 0 && v < (1LL << 31) ? static_cast<int>(v) : 0;
}

bool Inactive(const std::string& active_state) {
  return active_state == "inactive" || active_state == "failed" ||
         active_state.empty();
}

std::string OtherSlot(const std::string& slot) {
  return slot == "blue" ? "green" : "blue";
}

}  // namespace

SystemdSlotRunner::SystemdSlotRunner(const Config& config, Env env)
    : cfg_(config),
      env_(env),
      systemctl_(env.processes),
      processes_(config, env) {}

void SystemdSlotRunner::Prepare(const std::string& slot, Instance* instance) {
  *instance = Instance();
  instance->tag = NewInstanceTag();
  instance->unit = SlotUnitName(cfg_, slot);
}

int64_t SystemdSlotRunner::StopTimeoutMs() const {
  // systemd waits TimeoutStopSec after the drain signal and again after
  // SIGKILL.
  return 2 * cfg_.backend.drain.timeout_ms + 30000;
}

bool SystemdSlotRunner::ResolveProgram(std::vector<std::string>* argv,
                                       std::string* err) {
  std::string& program = argv->at(0);
  std::string missing =
      "cannot start \"" + program + "\": No such file or directory";
  if (program.find('/') != std::string::npos) {
    if (program[0] != '/') program = cfg_.backend.workdir + "/" + program;
    program = std::filesystem::path(program).lexically_normal().string();
    if (env_.fs->Exists(program)) return true;
    *err = missing;
    return false;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t at = 0;
  while (at <= dirs.size()) {
    size_t colon = dirs.find(':', at);
    if (colon == std::string::npos) colon = dirs.size();
    std::string dir = dirs.substr(at, colon - at);
    if (!dir.empty() && dir[0] == '/' && env_.fs->Exists(dir + "/" + program)) {
      program = dir + "/" + program;
      return true;
    }
    at = colon + 1;
  }
  *err = missing;
  return false;
}

bool SystemdSlotRunner::WriteUnitFiles(const std::string& slot,
                                       const std::string& version,
                                       const Instance& instance,
                                       std::string* err) {
  UnitSpec spec;
  spec.unit = instance.unit;
  spec.slot = slot;
  spec.version = version;
  spec.port = cfg_.PortOf(slot);
  spec.env = InstanceEnvironment(cfg_, slot, version, instance.tag);
  std::string text, path;
  if (cfg_.backend.systemd.template_unit.empty()) {
    spec.argv = InstanceArgv(cfg_, slot, version);
    if (!ResolveProgram(&spec.argv, err) ||
        !RenderSlotUnit(cfg_, spec, &text, err))
      return false;
    path = cfg_.backend.systemd.unit_dir + "/" + spec.unit;
  } else {
    if (!RenderTemplateDropIn(cfg_, spec, &text, err)) return false;
    path = TemplateDropInPath(cfg_, spec.unit);
  }
  return env_.fs->MakeDirs(DropInDir(cfg_, spec.unit), 0755, err) &&
         env_.fs->WriteFileAtomic(path, text, err, 0644) &&
         env_.fs->WriteFileAtomic(CanaryDropInPath(cfg_, spec.unit),
                                  RenderCanaryDropIn(), err, 0644);
}

bool SystemdSlotRunner::Enable(const std::string& unit, std::string* err) {
  return systemctl_.Call(
      {"add-wants", "--no-reload", cfg_.backend.systemd.wanted_by, unit},
      Systemctl::kShortTimeoutMs, nullptr, err);
}

bool SystemdSlotRunner::Disable(const std::string& unit, std::string* err) {
  return systemctl_.Call({"disable", "--no-reload", unit},
                         Systemctl::kShortTimeoutMs, nullptr, err);
}

bool SystemdSlotRunner::Start(const std::string& slot,
                              const std::string& version, Instance* instance,
                              std::string* err) {
  if (cfg_.PortOf(slot) == 0) {
    *err = "unknown slot \"" + slot + "\"";
    return false;
  }
  if (instance->unit.empty()) instance->unit = SlotUnitName(cfg_, slot);
  const std::string unit = instance->unit;
  checks_.erase(unit);
  cgroups_.erase(unit);
  if (!WriteUnitFiles(slot, version, *instance, err) || !Enable(unit, err) ||
      !systemctl_.Call({"daemon-reload"}, Systemctl::kShortTimeoutMs, nullptr,
                       err))
    return false;
  const std::string started_before = MainStart(unit);
  if (!systemctl_.Call({"restart", unit}, StopTimeoutMs(), nullptr, err)) {
    if (ProgramRan(unit, started_before)) {
      // Started, and exited before systemd saw it start: the health wait
      // reports it with its journal, as any instance that exits at once.
      Failpoint("spawned");
      instance->process = ProcessId();
      return true;
    }
    std::string tail = systemctl_.JournalTail(unit, 10);
    if (!tail.empty()) *err += "\nlast lines of its journal:\n" + tail;
    // Not left failed and enabled: it must not start at the next boot.
    std::string ignored;
    systemctl_.Call({"reset-failed", unit}, Systemctl::kShortTimeoutMs, nullptr,
                    &ignored);
    Disable(unit, &ignored);
    return false;
  }
  Failpoint("spawned");
  bool gone = false;
  return FindMainProcess(unit, instance->tag, kFindAttempts, &instance->process,
                         &gone, err);
}

std::string SystemdSlotRunner::MainStart(const std::string& unit) {
  std::map<std::string, std::string> props;
  std::string err;
  systemctl_.Show(unit, {"ExecMainStartTimestampMonotonic"}, &props, &err);
  return props["ExecMainStartTimestampMonotonic"];
}

bool SystemdSlotRunner::ProgramRan(const std::string& unit,
                                   const std::string& started_before) {
  std::map<std::string, std::string> props;
  std::string err;
  if (!systemctl_.Show(unit,
                       {"ExecMainPID", "ExecMainCode", "ExecMainStatus",
                        "ExecMainStartTimestampMonotonic"},
                       &props, &err))
    return false;
  long long status = 0;
  ParseInt(props["ExecMainStatus"], &status);
  // 200-243: systemd's own exit codes for a failed exec, chdir, User=, ...
  bool setup_failed =
      props["ExecMainCode"] == "1" && status >= 200 && status <= 243;
  return ToInt(props["ExecMainPID"]) > 0 && !setup_failed &&
         props["ExecMainStartTimestampMonotonic"] != started_before;
}

bool SystemdSlotRunner::FindMainProcess(const std::string& unit,
                                        const std::string& tag, int attempts,
                                        ProcessId* out, bool* gone,
                                        std::string* err) {
  int pid = 0;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) env_.clock->SleepMs(kFindPollMs);
    std::map<std::string, std::string> props;
    if (!systemctl_.Show(unit, {"MainPID", "ControlGroup"}, &props, err))
      return false;
    if (!props["ControlGroup"].empty()) cgroups_[unit] = props["ControlGroup"];
    pid = ToInt(props["MainPID"]);
    if (pid == 0) {
      *gone = true;
      *out = ProcessId();
      return true;
    }
    for (const ProcessId& p : env_.processes->FindByEnv("BGCTL_INSTANCE", tag))
      if (p.pid == pid) {
        *out = p;
        return true;
      }
  }
  *err = unit + " runs pid " + std::to_string(pid) +
         ", which does not have BGCTL_INSTANCE=" + tag +
         " in its environment (does its ExecStart clear the environment?)";
  return false;
}

bool SystemdSlotRunner::UnitRunsPid(const std::string& unit, int pid) {
  UnitCheck& check = checks_[unit];
  int64_t now = env_.clock->NowMs();
  if (check.pid == pid && check.at_ms > 0 && now - check.at_ms < kUnitCheckMs)
    return check.alive;
  std::map<std::string, std::string> props;
  std::string err;
  // systemctl cannot answer: the main process runs, which is what counts.
  if (!systemctl_.Show(unit, {"ActiveState", "MainPID"}, &props, &err))
    return true;
  const std::string& active = props["ActiveState"];
  check.pid = pid;
  check.at_ms = now;
  check.alive = ToInt(props["MainPID"]) == pid &&
                (active == "active" || active == "reloading");
  return check.alive;
}

bool SystemdSlotRunner::IsAlive(const Instance& instance) {
  if (instance.unit.empty()) return processes_.IsAlive(instance);
  if (instance.process.pid == 0 || !env_.processes->IsAlive(instance.process))
    return false;
  return UnitRunsPid(instance.unit, instance.process.pid);
}

StopOutcome SystemdSlotRunner::Stop(const Instance& instance,
                                    int64_t* elapsed_ms, std::string* err) {
  if (instance.unit.empty()) return processes_.Stop(instance, elapsed_ms, err);
  const std::string& unit = instance.unit;
  const int64_t start = env_.clock->NowMs();
  auto finish = [&](StopOutcome outcome) {
    *elapsed_ms = env_.clock->NowMs() - start;
    checks_.erase(unit);
    return outcome;
  };
  std::map<std::string, std::string> props;
  if (!systemctl_.Show(unit, {"LoadState", "ActiveState"}, &props, err))
    return finish(StopOutcome::kFailed);
  StopOutcome outcome = StopOutcome::kNotRunning;
  if (!Inactive(props["ActiveState"])) {
    Failpoint("stopping");
    if (!systemctl_.Call({"stop", unit}, StopTimeoutMs(), nullptr, err))
      return finish(StopOutcome::kFailed);
    std::map<std::string, std::string> after;
    std::string ignored;
    systemctl_.Show(unit, {"Result"}, &after, &ignored);
    outcome = after["Result"] == "timeout" ? StopOutcome::kKilled
                                           : StopOutcome::kExited;
  }
  // Stopped for good: not "failed" in `systemctl --failed`, not at boot.
  if (props["LoadState"] != "not-found") {
    std::string ignored;
    systemctl_.Call({"reset-failed", unit}, Systemctl::kShortTimeoutMs, nullptr,
                    &ignored);
    if (!Disable(unit, err)) {
      *err = "stopped, but " + *err;
      return finish(StopOutcome::kFailed);
    }
  }
  return finish(outcome);
}

bool SystemdSlotRunner::CgroupCpuMs(const std::string& unit, int64_t* ms) {
  std::string& cgroup = cgroups_[unit];
  if (cgroup.empty()) {
    std::map<std::string, std::string> props;
    std::string err;
    if (!systemctl_.Show(unit, {"ControlGroup"}, &props, &err)) return false;
    cgroup = props["ControlGroup"];
    if (cgroup.empty()) return false;
  }
  for (const char* root : kCgroupRoots) {
    std::string text, err;
    if (!env_.fs->ReadFile(root + cgroup + "/cpu.stat", &text, &err)) continue;
    auto stat = ParseShowOutput([&] {
      std::string kv = text;  // "usage_usec 123\n..." -> "usage_usec=123"
      for (char& c : kv)
        if (c == ' ') c = '=';
      return kv;
    }());
    long long usec = 0;
    if (ParseInt(stat["usage_usec"], &usec)) {
      *ms = usec / 1000;
      return true;
    }
  }
  return false;
}

bool SystemdSlotRunner::CpuTimeMs(const Instance& instance, int64_t* ms) {
  if (instance.unit.empty()) return processes_.CpuTimeMs(instance, ms);
  if (CgroupCpuMs(instance.unit, ms)) return true;
  std::map<std::string, std::string> props;
  std::string err;
  long long nsec = 0;
  if (systemctl_.Show(instance.unit, {"CPUUsageNSec"}, &props, &err) &&
      ParseInt(props["CPUUsageNSec"], &nsec)) {
    *ms = nsec / 1000000;
    return true;
  }
  return env_.processes->CpuTimeMs(instance.process, ms);
}

std::string SystemdSlotRunner::RecentOutput(const std::string& slot,
                                            const Instance& instance,
                                            int max_lines) {
  if (instance.unit.empty())
    return processes_.RecentOutput(slot, instance, max_lines);
  return systemctl_.JournalTail(instance.unit, max_lines);
}

bool SystemdSlotRunner::Adopt(Instance* instance) {
  if (instance->unit.empty()) return processes_.Adopt(instance);
  if (instance->tag.empty()) return false;
  ProcessId found;
  bool gone = false;
  std::string err;
  if (!FindMainProcess(instance->unit, instance->tag, 1, &found, &gone, &err) ||
      gone)
    return false;
  instance->process = found;
  return true;
}

bool SystemdSlotRunner::SetBootSlot(const std::string& stable_slot,
                                    std::string* err) {
  const std::string unit = SlotUnitName(cfg_, stable_slot);
  const std::string other = SlotUnitName(cfg_, OtherSlot(stable_slot));
  if (unit.empty()) {
    *err = "unknown slot \"" + stable_slot + "\"";
    return false;
  }
  std::map<std::string, std::string> props;
  if (!Enable(unit, err) ||
      !systemctl_.Show(other, {"LoadState"}, &props, err) ||
      (props["LoadState"] != "not-found" && !Disable(other, err)))
    return false;
  // From now on systemd restarts the stable instance when it crashes.
  const std::string canary = CanaryDropInPath(cfg_, unit);
  if (env_.fs->Exists(canary) && !env_.fs->Remove(canary, err)) return false;
  checks_.clear();
  return systemctl_.Call({"daemon-reload"}, Systemctl::kShortTimeoutMs, nullptr,
                         err);
}

RunnerStatus SystemdSlotRunner::Status(const std::string& slot,
                                       const Instance& instance) {
  if (instance.unit.empty() && instance.process.pid != 0)
    return processes_.Status(slot, instance);
  RunnerStatus s;
  s.unit = instance.unit.empty() ? SlotUnitName(cfg_, slot) : instance.unit;
  std::map<std::string, std::string> props;
  std::string err;
  if (!systemctl_.Show(
          s.unit,
          {"LoadState", "ActiveState", "SubState", "MainPID", "NRestarts"},
          &props, &err)) {
    s.state = "unknown (" + err + ")";
    return s;
  }
  s.state = props["LoadState"] == "not-found"
                ? "not installed"
                : props["ActiveState"] + " (" + props["SubState"] + ")";
  s.pid = ToInt(props["MainPID"]);
  s.restarts = ToInt(props["NRestarts"]);
  if (props["LoadState"] != "not-found" &&
      !systemctl_.IsEnabled(s.unit, &s.boot, &err))
    s.boot.clear();
  return s;
}

}  // namespace bgctl
