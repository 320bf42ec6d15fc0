#include "controller/state.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using bgctl::Instance;
using bgctl::Phase;
using bgctl::State;
using nlohmann::json;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/bgctl-state-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A rollout of v2 in green at 10%, step 1 of 3, v1 stable in blue.
State Progressing() {
  State s;
  s.phase = Phase::kProgressing;
  s.stable_slot = "blue";
  s.canary_slot = "green";
  s.blue = {"v1", Instance{{1234, 99887766}, "", "0a1b2c3d4e5f6a7b"}};
  s.green = {"v2", Instance{{5678, 99887799},
                            "bgctl-demo-green.service",
                            "f0e1d2c3b4a59687"}};
  s.traffic_unknown = true;
  s.canary_weight = 10;
  s.step_index = 0;
  s.step_count = 3;
  s.steps = {10, 50, 100};
  s.generation = 7;
  s.owner_pid = 4321;
  s.owner_start_time = 11223344;
  s.deploy_id = "d-1700000000000";
  s.previous_slot = "";
  s.previous_version = "";
  s.last_error = "";
  s.updated_at_ms = 1700000000000;
  return s;
}

bgctl::Config DemoConfig() {
  bgctl::Config c;
  c.service = "demo";
  c.blue_port = 8081;
  c.green_port = 8082;
  return c;
}

// A corrupt-state message for `text` loaded from a file.
std::string LoadError(const TempDir& dir, const std::string& text) {
  std::string path = dir.path + "/state.json";
  WriteText(path, text);
  State s;
  std::string err;
  bool ok = bgctl::LoadState(bgctl::RealFileSystem(), path, &s, &err);
  return ok ? "(loaded)" : err;
}

}  // namespace

TEST_CASE("phase names round-trip and slots pair up", "[state]") {
  for (Phase p :
       {Phase::kIdle, Phase::kProgressing, Phase::kPaused, Phase::kPromoted,
        Phase::kRolledBack, Phase::kAborted, Phase::kInterrupted}) {
    Phase back = Phase::kIdle;
    REQUIRE(bgctl::ParsePhase(bgctl::PhaseName(p), &back));
    CHECK(back == p);
  }
  CHECK(std::string(bgctl::PhaseName(Phase::kRolledBack)) == "rolled_back");
  Phase p;
  CHECK_FALSE(bgctl::ParsePhase("rolledback", &p));
  CHECK(State::Other("blue") == "green");
  CHECK(State::Other("green") == "blue");
  CHECK(State::Other("") == "");
  State s;
  s.Slot("green").version = "v9";
  s.Slot("red").version = "lost";
  CHECK(s.green.version == "v9");
  CHECK(s.blue.version == "");
  CHECK(s.Slot("red").version == "");
}

TEST_CASE("a missing state file is an idle service", "[state]") {
  TempDir dir;
  State s = Progressing();
  std::string err;
  REQUIRE(bgctl::LoadState(bgctl::RealFileSystem(), dir.path + "/state.json",
                           &s, &err));
  CHECK(s.phase == Phase::kIdle);
  CHECK(s.stable_slot == "");
  CHECK(s.canary_slot == "");
  CHECK(s.step_index == -1);
  CHECK(s.generation == 0);
}

TEST_CASE("a saved state loads back identical and is private to the owner",
          "[state]") {
  TempDir dir;
  std::string path = dir.path + "/state.json";
  State s = Progressing();
  s.phase = Phase::kPromoted;
  s.previous_slot = "blue";
  s.previous_version = "v1";
  s.previous_expires_ms = 1700000300000;
  s.last_error = "canary error rate 0.2 > 0.01";
  s.generation = 18446744073709551000ull;
  std::string err;
  REQUIRE(bgctl::SaveState(bgctl::RealFileSystem(), path, s, &err));
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(json::parse(ReadText(path))["phase"] == "promoted");

  State back;
  REQUIRE(bgctl::LoadState(bgctl::RealFileSystem(), path, &back, &err));
  CHECK(bgctl::StateToJson(back) == bgctl::StateToJson(s));
  CHECK(back.phase == Phase::kPromoted);
  CHECK(back.green.instance.process.pid == 5678);
  CHECK(back.green.instance.process.start_time == 99887799);
  CHECK(back.steps == std::vector<int>{10, 50, 100});
  CHECK(back.generation == 18446744073709551000ull);
  CHECK(back.previous_expires_ms == 1700000300000);
  CHECK(back.last_error == "canary error rate 0.2 > 0.01");
}

TEST_CASE("unknown fields in the state file are ignored", "[state]") {
  TempDir dir;
  json j = bgctl::StateToJson(Progressing());
  j["written_by"] = "bgctl 9.9";
  j["blue"]["extra"] = {1, 2};
  j.erase("previous_expires_ms");  // optional: older files lack it
  std::string path = dir.path + "/state.json";
  WriteText(path, j.dump());
  State s;
  std::string err;
  REQUIRE(bgctl::LoadState(bgctl::RealFileSystem(), path, &s, &err));
  CHECK(bgctl::StateToJson(s) == bgctl::StateToJson(Progressing()));
}

TEST_CASE("a corrupt state file is refused with the reason, never reset",
          "[state]") {
  TempDir dir;
  std::string prefix = "corrupt state file " + dir.path + "/state.json: ";
  CHECK(LoadError(dir, "{\"phase\": \"idle\",") == prefix + "not valid JSON");
  CHECK(LoadError(dir, "") == prefix + "not valid JSON");
  CHECK(LoadError(dir, "[1, 2]") == prefix + "expected a JSON object");

  json good = bgctl::StateToJson(Progressing());
  json j = good;
  j.erase("generation");
  CHECK(LoadError(dir, j.dump()) == prefix + "missing field \"generation\"");
  j = good;
  j["green"].erase("pid");
  CHECK(LoadError(dir, j.dump()) == prefix + "missing field \"green.pid\"");
  j = good;
  j["canary_weight"] = "10";
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "field \"canary_weight\" must be an integer");
  j = good;
  j["phase"] = "done";
  CHECK(LoadError(dir, j.dump()) ==
        prefix +
            "field \"phase\" must be one of idle, progressing, paused, "
            "promoted, rolled_back, aborted, interrupted");
  j = good;
  j["generation"] = -1;
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "field \"generation\" must be a non-negative integer");
  j = good;
  j["canary_slot"] = "blue";
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "canary_slot and stable_slot are both blue");
  j = good;
  j["stable_slot"] = "red";
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "stable_slot \"red\" is not blue, green or empty");
  j = good;
  j["canary_weight"] = 101;
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "canary_weight 101 is outside 0..100");
  j = good;
  j["steps"] = {10, 0};
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "field \"steps\" must be a list of integers 1..100");
  j = good;
  j["blue"] = "v1";
  CHECK(LoadError(dir, j.dump()) ==
        prefix + "field \"blue\" must be an object");
  // The file is still there, untouched, for the user to inspect.
  CHECK(ReadText(dir.path + "/state.json") == j.dump());
}

TEST_CASE("an unreadable state file is an error, not an idle service",
          "[state]") {
  TempDir dir;
  std::string path = dir.path + "/state.json";
  std::filesystem::create_directory(path);
  State s;
  std::string err;
  CHECK_FALSE(bgctl::LoadState(bgctl::RealFileSystem(), path, &s, &err));
  CHECK(err == "cannot read state " + path + ": Is a directory");
}

TEST_CASE("status json follows the contract during a rollout", "[state]") {
  json j = bgctl::StatusJson(Progressing(), DemoConfig());
  CHECK(j["service"] == "demo");
  CHECK(j["phase"] == "progressing");
  CHECK(j["stable"] == json{{"slot", "blue"},
                            {"version", "v1"},
                            {"port", 8081},
                            {"pid", 1234},
                            {"weight", 90}});
  CHECK(j["canary"] == json{{"slot", "green"},
                            {"version", "v2"},
                            {"port", 8082},
                            {"pid", 5678},
                            {"weight", 10}});
  CHECK(j["step"] == json{{"index", 0}, {"count", 3}});
  CHECK(j["generation"] == 7);
  CHECK(j["previous"].is_null());
}

TEST_CASE(
    "status json has null slots before the first deploy and no canary "
    "after a promotion",
    "[state]") {
  json idle = bgctl::StatusJson(State(), DemoConfig());
  CHECK(idle["phase"] == "idle");
  CHECK(idle["stable"].is_null());
  CHECK(idle["canary"].is_null());
  CHECK(idle["step"] == json{{"index", -1}, {"count", 0}});

  State s = Progressing();
  s.phase = Phase::kPromoted;
  s.stable_slot = "green";
  s.canary_slot = "";
  s.canary_weight = 0;
  s.previous_slot = "blue";
  s.previous_version = "v1";
  json j = bgctl::StatusJson(s, DemoConfig());
  CHECK(j["stable"] == json{{"slot", "green"},
                            {"version", "v2"},
                            {"port", 8082},
                            {"pid", 5678},
                            {"weight", 100}});
  CHECK(j["canary"].is_null());
  CHECK(j["previous"] ==
        json{{"slot", "blue"}, {"version", "v1"}, {"pid", 1234}});
}

TEST_CASE("status text names both slots, their weights and the step",
          "[state]") {
  State s = Progressing();
  s.last_error = "earlier failure";
  CHECK(bgctl::StatusText(s, DemoConfig()) ==
        "service demo: progressing\n"
        "stable: v1 in blue (port 8081, pid 1234), 90% of traffic\n"
        "canary: v2 in green (port 8082, pid 5678), 10% of traffic\n"
        "step: 1 of 3\n"
        "last error: earlier failure\n"
        "generation 7, updated 2023-11-14T22:13:20Z\n");
  CHECK(bgctl::StatusText(State(), DemoConfig()) ==
        "service demo: idle\nnothing deployed yet\n");
}

TEST_CASE(
    "a last_error that is not UTF-8 is saved with U+FFFD instead of "
    "throwing mid-rollout",
    "[state]") {
  TempDir dir;
  std::string path = dir.path + "/state.json";
  State s = Progressing();
  s.last_error = "exited; last lines of its log:\nboom \xFF\xFE\n";
  std::string err;
  REQUIRE(bgctl::SaveState(bgctl::RealFileSystem(), path, s, &err));
  State back;
  REQUIRE(bgctl::LoadState(bgctl::RealFileSystem(), path, &back, &err));
  CHECK(back.last_error ==
        "exited; last lines of its log:\nboom \xEF\xBF\xBD\xEF\xBF\xBD\n");
}
