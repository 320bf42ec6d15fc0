// The rollout with a traffic switch that pins requests (the lua switch's
// preview header and sticky cookie), on the fakes of rollout_harness.h:
// every split that ends a rollout names only live instances, a generation
// nginx serves ahead of the state is taken over, a first deploy whose
// switch is unknown keeps its canary, and pre_traffic can preview.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>

#include "controller/control_key.h"
#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

// The index of the first journal entry starting with `prefix`; -1 if none.
int IndexOf(const std::vector<std::string>& journal,
            const std::string& prefix) {
  for (size_t i = 0; i < journal.size(); ++i)
    if (journal[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  return -1;
}

// Stable v1 in blue, the fake switch pinning requests as the lua switch's.
void PinningWorld(World* w) {
  w->StartStable();
  w->UseFakeSwitch();
  w->traffic.pins = true;
}

TEST_CASE(
    "a promoted rollout ends with a split that names only the new stable, "
    "before the old one drains",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  std::string err;
  REQUIRE(w.Deploy("v2", &err, {{100, 0, false}}) == kExitOk);
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 100% stable=8081 canary=8082 -> confirmed",
            "switch 3: 0% stable=8082 canary=- -> confirmed"});
  const int last = IndexOf(w.journal, "switch 3:");
  const int drain = IndexOf(w.journal, "signal 500");
  REQUIRE(last >= 0);
  REQUIRE(drain >= 0);
  CHECK(last < drain);
  CHECK(w.Saved().phase == Phase::kPromoted);
  CHECK_FALSE(w.Saved().traffic_unknown);
}

TEST_CASE(
    "without a pinning switch a promotion needs no last split (the reload "
    "switch's file at 100% names only the canary)",
    "[lua_rollout]") {
  World w;
  w.StartStable();
  w.UseFakeSwitch();
  std::string err;
  REQUIRE(w.Deploy("v2", &err, {{100, 0, false}}) == kExitOk);
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 100% stable=8081 canary=8082 -> confirmed"});
}

TEST_CASE(
    "when the promotion's last split is not confirmed the old instance "
    "keeps running and the command fails",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  w.traffic.outcomes = {SwitchOutcome::kConfirmed, SwitchOutcome::kUnknown};
  std::string err;
  CHECK(w.Deploy("v2", &err, {{100, 0, false}}) == kExitFailed);
  CHECK(IndexOf(w.journal, "signal 500") == -1);
  CHECK(w.processes.IsAlive(w.state.blue.instance.process));
  State s = w.Saved();
  CHECK(s.phase == Phase::kPromoted);
  CHECK(s.stable_slot == "green");
  CHECK(s.traffic_unknown);
  CHECK(err.find("the split naming only green was not confirmed") !=
        std::string::npos);
  CHECK(w.err.str().find("bgctl: the split naming only green was not "
                         "confirmed") != std::string::npos);
}

TEST_CASE(
    "an abort with a pinning switch ends with a split that no longer names "
    "the canary, also from 0%",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  std::string err;
  REQUIRE(w.Deploy("v2", &err, {{10, 0, true}, {100, 0, false}}) == kExitOk);
  REQUIRE(SetWeight(&w.ctx, &w.state, 0, &err) == kExitOk);
  REQUIRE(Abort(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(w.Switches().back() ==
        "switch 4: 0% stable=8081 canary=- -> confirmed");
  CHECK(w.Switches()[1] == "switch 3: 0% stable=8081 canary=8082 -> confirmed");
}

TEST_CASE(
    "a canary that never gets healthy is stopped after a split that does "
    "not name it when the switch pins requests",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  w.cfg.backend.health.deadline_ms = 1000;
  w.http.Statuses(kGreen, "/healthz", {503});
  std::string err;
  CHECK(w.Deploy("v2", &err) == kExitRolledBack);
  CHECK(w.Switches() == std::vector<std::string>{
                            "switch 2: 0% stable=8081 canary=- -> confirmed"});
}

TEST_CASE(
    "nginx serving a generation ahead of the state is said and taken over "
    "with one switch",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  w.traffic.served = UINT64_MAX;
  w.traffic.takeover_floor = 1;  // the loaded file's generation
  std::string err;
  REQUIRE(w.Deploy("v2", &err, {{10, 0, true}, {100, 0, false}}) == kExitOk);
  CHECK(w.Switches() ==
        std::vector<std::string>{
            "switch 2: 10% stable=8081 canary=8082 takeover -> confirmed"});
  const std::string out = w.out.str();
  CHECK(out.find("nginx serves generation 18446744073709551615, ahead of "
                 "bgctl's state (generation 1)") != std::string::npos);
  CHECK(out.find("taking over with generation 2") != std::string::npos);
  REQUIRE(Promote(&w.ctx, &w.state, false, &err) == kExitOk);
  CHECK(w.Switches()[1] ==
        "switch 3: 100% stable=8081 canary=8082 -> confirmed");
}

TEST_CASE(
    "with the reload switch's floor a generation at the top of the range "
    "cannot be taken over, and says so",
    "[lua_rollout]") {
  World w;
  w.StartStable();
  w.UseFakeSwitch();
  w.traffic.served = UINT64_MAX;
  std::string err;
  CHECK(w.Deploy("v2", &err, {{100, 0, false}}) == kExitFailed);
  CHECK(err.find("nginx serves generation 18446744073709551615, the largest "
                 "there is") != std::string::npos);
  CHECK(w.Switches().empty());
}

TEST_CASE(
    "a first deploy whose switch is unknown keeps its canary while the file "
    "or nginx may send it requests, and stops it once neither can",
    "[lua_rollout]") {
  World w;
  w.UseFakeSwitch();
  w.traffic.pins = true;
  w.traffic.outcomes = {SwitchOutcome::kUnknown};
  // As the reload switch leaves it: the new file names the canary.
  w.traffic.on_apply = [&w](const TrafficSplit&) {
    w.fs.files[kUpstreamFile] = Upstream({{kBlue, 100}}, 1);
  };
  std::string err;
  CHECK(w.Deploy("v1", &err) == kExitFailed);
  State s = w.Saved();
  CHECK(s.canary_slot == "blue");
  CHECK(s.traffic_unknown);
  CHECK(IndexOf(w.journal, "signal") == -1);
  CHECK(w.err.str().find("the canary keeps running while nginx may still "
                         "send it requests") != std::string::npos);

  // The file names it: abort keeps it.
  w.state = w.Saved();
  CHECK(Abort(&w.ctx, &w.state, &err) == kExitFailed);
  CHECK(IndexOf(w.journal, "signal") == -1);
  // The file back as it was (what served before), nginx on an older
  // generation: nothing can reach the canary, so abort stops it.
  w.fs.files[kUpstreamFile] = RenderPlaceholderUpstream(kName, kBlue);
  w.state = w.Saved();
  REQUIRE(Abort(&w.ctx, &w.state, &err) == kExitOk);
  CHECK(IndexOf(w.journal, "signal 1000") >= 0);
  CHECK(w.Saved().canary_slot.empty());
  CHECK_FALSE(w.Saved().traffic_unknown);
}

TEST_CASE("a first deploy whose split nginx may have taken keeps its canary",
          "[lua_rollout]") {
  World w;
  w.UseFakeSwitch();
  w.traffic.outcomes = {SwitchOutcome::kUnknown};
  w.traffic.on_apply = [&w](const TrafficSplit& s) {
    w.traffic.served = s.generation;  // taken, the answer lost
  };
  std::string err;
  CHECK(w.Deploy("v1", &err) == kExitFailed);
  CHECK(w.Saved().canary_slot == "blue");
  CHECK(IndexOf(w.journal, "signal") == -1);
}

TEST_CASE(
    "with the preview header on, pre_traffic runs after a 0% split names "
    "the canary, with the header and the rollout's token in its "
    "environment only",
    "[lua_rollout]") {
  World w;
  PinningWorld(&w);
  w.cfg.nginx.switch_kind = SwitchKind::kLua;
  w.cfg.nginx.lua.preview_header = "X-Canary";
  w.cfg.hooks.pre_traffic = {"bin/smoke", "{preview_url}"};
  ControlKey key;
  std::string err;
  REQUIRE(CreateControlKey(&w.fs, kStateDir, &key, &err));
  REQUIRE(w.Deploy("v2", &err, {{100, 0, false}}) == kExitOk);
  const int zero = IndexOf(w.journal, "switch 2: 0% stable=8081 canary=8082");
  const int hook = IndexOf(w.journal, "run bin/smoke");
  REQUIRE(zero >= 0);
  REQUIRE(hook >= 0);
  CHECK(zero < hook);
  const auto& runs = w.processes.runs();
  size_t index = 0;
  while (index < runs.size() && runs[index].argv[0] != "bin/smoke") ++index;
  REQUIRE(index < runs.size());
  const std::string token = PreviewToken(key, w.Saved().deploy_id);
  CHECK(w.processes.RunEnv(index) ==
        std::map<std::string, std::string>{{"BGCTL_PREVIEW_HEADER", "X-Canary"},
                                           {"BGCTL_PREVIEW_TOKEN", token}});
  for (const std::string& arg : runs[index].argv) CHECK(arg != token);
}

}  // namespace
}  // namespace bgctl
