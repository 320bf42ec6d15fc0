#include "controller/state.h"

#include <ctime>

#include "controller/names.h"

namespace bgctl {

namespace {

using nlohmann::json;

const char* const kPhaseNames[] = {"idle",       "progressing", "paused",
                                   "promoted",   "rolled_back", "aborted",
                                   "interrupted"};

bool ValidSlot(const std::string& s, bool allow_empty) {
  return s == "blue" || s == "green" || (allow_empty && s.empty());
}

// Reads typed fields out of one JSON object; the first problem is kept.
class Reader {
 public:
  Reader(const json& j, const std::string& prefix) : j_(j), prefix_(prefix) {}

  bool ok() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }

  const json* Field(const char* name, bool required) {
    if (!ok()) return nullptr;
    auto it = j_.find(name);
    if (it == j_.end()) {
      if (required) problem_ = "missing field \"" + prefix_ + name + "\"";
      return nullptr;
    }
    return &*it;
  }
  void Bad(const char* name, const char* what) {
    problem_ = "field \"" + prefix_ + name + "\" must be " + what;
  }

  void String(const char* name, std::string* out, bool required = true) {
    const json* v = Field(name, required);
    if (!v) return;
    if (!v->is_string()) return Bad(name, "a string");
    *out = v->get<std::string>();
  }
  void Int64(const char* name, int64_t* out, bool required = true) {
    const json* v = Field(name, required);
    if (!v) return;
    if (!v->is_number_integer()) return Bad(name, "an integer");
    *out = v->get<int64_t>();
  }
  void Int(const char* name, int* out, bool required = true) {
    int64_t v = *out;
    Int64(name, &v, required);
    if (ok() && (v < INT32_MIN || v > INT32_MAX))
      return Bad(name, "a 32-bit integer");
    *out = static_cast<int>(v);
  }
  void Uint64(const char* name, uint64_t* out, bool required = true) {
    const json* v = Field(name, required);
    if (!v) return;
    if (!v->is_number_unsigned()) return Bad(name, "a non-negative integer");
    *out = v->get<uint64_t>();
  }

 private:
  const json& j_;
  std::string prefix_;
  std::string problem_;
};

json SlotToJson(const SlotState& s) {
  return {{"version", s.version},
          {"pid", s.instance.process.pid},
          {"start_time", s.instance.process.start_time},
          {"unit", s.instance.unit},
          {"tag", s.instance.tag}};
}

bool SlotFromJson(const json& j, const char* name, SlotState* s,
                  std::string* problem) {
  auto it = j.find(name);
  if (it == j.end()) {
    *problem = "missing field \"" + std::string(name) + "\"";
    return false;
  }
  if (!it->is_object()) {
    *problem = "field \"" + std::string(name) + "\" must be an object";
    return false;
  }
  Reader r(*it, std::string(name) + ".");
  r.String("version", &s->version);
  r.Int("pid", &s->instance.process.pid);
  r.Uint64("start_time", &s->instance.process.start_time);
  r.String("unit", &s->instance.unit, false);
  r.String("tag", &s->instance.tag, false);
  if (r.ok() && s->instance.process.pid < 0) r.Bad("pid", "0 or a process id");
  *problem = r.problem();
  return r.ok();
}

// Checks what a well-formed file can still get wrong.
std::string Inconsistency(const State& s) {
  if (!ValidSlot(s.stable_slot, true))
    return "stable_slot \"" + s.stable_slot + "\" is not blue, green or empty";
  if (!ValidSlot(s.canary_slot, true))
    return "canary_slot \"" + s.canary_slot + "\" is not blue, green or empty";
  if (!s.canary_slot.empty() && s.canary_slot == s.stable_slot)
    return "canary_slot and stable_slot are both " + s.canary_slot;
  if (!ValidSlot(s.previous_slot, true))
    return "previous_slot \"" + s.previous_slot +
           "\" is not blue, green or empty";
  if (s.canary_weight < 0 || s.canary_weight > 100)
    return "canary_weight " + std::to_string(s.canary_weight) +
           " is outside 0..100";
  if (s.step_index < -1) return "step_index is below -1";
  // A version fills {version} in a command: never "..", "/" or a space.
  for (const std::string* v :
       {&s.blue.version, &s.green.version, &s.previous_version})
    if (!v->empty() && !IsValidName(*v))
      return "version \"" + *v + "\" is not a valid version";
  return "";
}

}  // namespace

const char* PhaseName(Phase phase) {
  return kPhaseNames[static_cast<int>(phase)];
}

bool ParsePhase(const std::string& name, Phase* phase) {
  for (int i = 0; i < static_cast<int>(std::size(kPhaseNames)); ++i) {
    if (name == kPhaseNames[i]) {
      *phase = static_cast<Phase>(i);
      return true;
    }
  }
  return false;
}

SlotState& State::Slot(const std::string& name) {
  if (name == "blue") return blue;
  if (name == "green") return green;
  static thread_local SlotState scratch;
  scratch = SlotState();
  return scratch;
}

const SlotState& State::Slot(const std::string& name) const {
  return const_cast<State*>(this)->Slot(name);
}

std::string State::Other(const std::string& slot) {
  if (slot == "blue") return "green";
  if (slot == "green") return "blue";
  return "";
}

json StateToJson(const State& s) {
  return {{"phase", PhaseName(s.phase)},
          {"stable_slot", s.stable_slot},
          {"canary_slot", s.canary_slot},
          {"blue", SlotToJson(s.blue)},
          {"green", SlotToJson(s.green)},
          {"canary_weight", s.canary_weight},
          {"step_index", s.step_index},
          {"step_count", s.step_count},
          {"steps", s.steps},
          {"generation", s.generation},
          {"traffic_unknown", s.traffic_unknown},
          {"owner_pid", s.owner_pid},
          {"owner_start_time", s.owner_start_time},
          {"owner_command", s.owner_command},
          {"deploy_id", s.deploy_id},
          {"previous_slot", s.previous_slot},
          {"previous_version", s.previous_version},
          {"previous_expires_ms", s.previous_expires_ms},
          {"last_error", s.last_error},
          {"pending_history", s.pending_history
                                  ? HistoryEntryToJson(*s.pending_history)
                                  : json(nullptr)},
          {"updated_at_ms", s.updated_at_ms}};
}

bool StateFromJson(const json& j, State* out, std::string* err) {
  if (!j.is_object()) {
    *err = "expected a JSON object";
    return false;
  }
  State s;
  Reader r(j, "");
  std::string phase;
  r.String("phase", &phase);
  if (r.ok() && !ParsePhase(phase, &s.phase))
    r.Bad("phase",
          "one of idle, progressing, paused, promoted, rolled_back, "
          "aborted, interrupted");
  r.String("stable_slot", &s.stable_slot);
  r.String("canary_slot", &s.canary_slot);
  std::string problem;
  if (r.ok() && (!SlotFromJson(j, "blue", &s.blue, &problem) ||
                 !SlotFromJson(j, "green", &s.green, &problem))) {
    *err = problem;
    return false;
  }
  r.Int("canary_weight", &s.canary_weight);
  r.Int("step_index", &s.step_index);
  r.Int("step_count", &s.step_count);
  r.Uint64("generation", &s.generation);
  if (const json* v = r.Field("traffic_unknown", false)) {
    if (!v->is_boolean()) r.Bad("traffic_unknown", "true or false");
    if (r.ok()) s.traffic_unknown = v->get<bool>();
  }
  r.Int("owner_pid", &s.owner_pid);
  r.Uint64("owner_start_time", &s.owner_start_time);
  r.String("owner_command", &s.owner_command, false);
  r.String("deploy_id", &s.deploy_id);
  r.String("previous_slot", &s.previous_slot);
  r.String("previous_version", &s.previous_version);
  r.Int64("previous_expires_ms", &s.previous_expires_ms, false);
  r.String("last_error", &s.last_error);
  r.Int64("updated_at_ms", &s.updated_at_ms);
  if (const json* steps = r.Field("steps", true)) {
    if (!steps->is_array()) r.Bad("steps", "a list of integers 1..100");
    for (const json& w : steps->is_array() ? *steps : json::array()) {
      if (!w.is_number_integer() || w.get<int64_t>() < 1 ||
          w.get<int64_t>() > 100) {
        r.Bad("steps", "a list of integers 1..100");
        break;
      }
      s.steps.push_back(w.get<int>());
    }
  }
  if (!r.ok()) {
    *err = r.problem();
    return false;
  }
  if (const json* pending = r.Field("pending_history", false);
      pending && !pending->is_null()) {
    HistoryEntry e;
    if (!HistoryEntryFromJson(*pending, &e, err)) {
      *err = "pending_history: " + *err;
      return false;
    }
    s.pending_history = e;
  }
  *err = Inconsistency(s);
  if (!err->empty()) return false;
  *out = std::move(s);
  return true;
}

std::string StatePath(const Config& config) {
  return config.state_dir + "/state.json";
}

bool LoadState(FileSystem* fs, const std::string& path, State* state,
               std::string* err) {
  if (!fs->Exists(path)) {
    *state = State();
    return true;
  }
  std::string text, read_err;
  if (!fs->ReadFile(path, &text, &read_err)) {
    // ReadFile says "cannot read PATH: REASON"; keep the reason.
    std::string prefix = "cannot read " + path + ": ";
    if (read_err.compare(0, prefix.size(), prefix) == 0)
      read_err = read_err.substr(prefix.size());
    *err = "cannot read state " + path + ": " + read_err;
    return false;
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::string problem = "not valid JSON";
  if (!j.is_discarded() && StateFromJson(j, state, &problem)) return true;
  *err = "corrupt state file " + path + ": " + problem;
  return false;
}

bool OwnerGone(const State& state, ProcessRunner* processes) {
  return state.phase == Phase::kProgressing &&
         !processes->IsAlive({state.owner_pid, state.owner_start_time});
}

bool SaveState(FileSystem* fs, const std::string& path, const State& state,
               std::string* err) {
  return fs->WriteFileAtomic(
      path,
      StateToJson(state).dump(2, ' ', false, json::error_handler_t::replace) +
          "\n",
      err, 0600);
}

namespace {

json SlotStatus(const State& s, const Config& c, const std::string& slot,
                int weight) {
  if (slot.empty()) return nullptr;
  const SlotState& st = s.Slot(slot);
  return {{"slot", slot},
          {"version", st.version},
          {"port", c.PortOf(slot)},
          {"pid", st.instance.process.pid},
          {"weight", weight}};
}

int StableWeight(const State& s) {
  return s.canary_slot.empty() ? 100 : 100 - s.canary_weight;
}

// Adds "instance" (what the runner sees of `slot` now) to a slot object.
void AddInstance(const Config& c, const RunnerStatuses* runners,
                 const std::string& slot, json* j) {
  if (runners == nullptr || j->is_null() || !runners->count(slot)) return;
  const RunnerStatus& r = runners->at(slot);
  (*j)["instance"] = {
      {"runner",
       c.backend.runner == RunnerKind::kSystemd ? "systemd" : "process"},
      {"unit", r.unit},
      {"state", r.state},
      {"pid", r.pid},
      {"restarts", r.restarts},
      {"boot", r.boot}};
}

}  // namespace

json StatusJson(const State& s, const Config& c,
                const RunnerStatuses* runners) {
  json previous = nullptr;
  if (!s.previous_slot.empty())
    previous = {{"slot", s.previous_slot},
                {"version", s.previous_version},
                {"pid", s.Slot(s.previous_slot).instance.process.pid}};
  json stable = SlotStatus(s, c, s.stable_slot, StableWeight(s));
  json canary = SlotStatus(s, c, s.canary_slot, s.canary_weight);
  AddInstance(c, runners, s.stable_slot, &stable);
  AddInstance(c, runners, s.canary_slot, &canary);
  AddInstance(c, runners, s.previous_slot, &previous);
  return {{"service", c.service},
          {"phase", PhaseName(s.phase)},
          {"stable", stable},
          {"canary", canary},
          {"step", {{"index", s.step_index}, {"count", s.step_count}}},
          {"steps", s.steps},
          {"generation", s.generation},
          {"previous", previous},
          {"last_error", s.last_error},
          {"deploy_id", s.deploy_id},
          {"owner_pid", s.owner_pid},
          {"updated_at_ms", s.updated_at_ms}};
}

std::string FormatUtc(int64_t wall_ms) {
  time_t secs = static_cast<time_t>(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

std::string SlotLine(const State& s, const Config& c, const char* role,
                     const std::string& slot, int weight) {
  const SlotState& st = s.Slot(slot);
  std::string pid = st.instance.process.pid
                        ? "pid " + std::to_string(st.instance.process.pid)
                        : "not running";
  return std::string(role) + ": " + (st.version.empty() ? "-" : st.version) +
         " in " + slot + " (port " + std::to_string(c.PortOf(slot)) + ", " +
         pid + "), " + std::to_string(weight) + "% of traffic\n";
}

// "  unit U: active (running), pid 42, 1 restart, enabled\n" for a slot
// the runner runs as a unit; "" otherwise.
std::string UnitLine(const RunnerStatuses* runners, const std::string& slot) {
  if (runners == nullptr || !runners->count(slot)) return "";
  const RunnerStatus& r = runners->at(slot);
  if (r.unit.empty()) return "";
  std::string line = "  unit " + r.unit + ": " + r.state;
  if (r.pid) line += ", pid " + std::to_string(r.pid);
  line += ", " + std::to_string(r.restarts) +
          (r.restarts == 1 ? " restart" : " restarts");
  if (!r.boot.empty()) line += ", " + r.boot;
  return line + "\n";
}

}  // namespace

std::string StatusText(const State& s, const Config& c,
                       const RunnerStatuses* runners) {
  std::string out = "service " + c.service + ": " + PhaseName(s.phase) + "\n";
  if (s.stable_slot.empty() && s.canary_slot.empty())
    out += "nothing deployed yet\n";
  if (!s.stable_slot.empty())
    out += SlotLine(s, c, "stable", s.stable_slot, StableWeight(s)) +
           UnitLine(runners, s.stable_slot);
  if (!s.canary_slot.empty()) {
    out += SlotLine(s, c, "canary", s.canary_slot, s.canary_weight) +
           UnitLine(runners, s.canary_slot);
    out += "step: " + std::to_string(s.step_index + 1) + " of " +
           std::to_string(s.step_count) + "\n";
  }
  if (!s.previous_slot.empty() && !s.previous_version.empty())
    out += "previous: " + s.previous_version + " in " + s.previous_slot +
           " (bgctl rollback returns to it)\n" +
           UnitLine(runners, s.previous_slot);
  if (!s.last_error.empty()) out += "last error: " + s.last_error + "\n";
  if (s.updated_at_ms > 0)
    out += "generation " + std::to_string(s.generation) + ", updated " +
           FormatUtc(s.updated_at_ms) + "\n";
  return out;
}

}  // namespace bgctl
