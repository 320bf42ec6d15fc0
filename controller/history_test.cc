#include "controller/history.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using bgctl::HistoryEntry;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/bgctl-history-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

HistoryEntry Promoted() {
  HistoryEntry e;
  e.id = "d-1700000000000";
  e.command = "deploy";
  e.version = "v2";
  e.from_version = "v1";
  e.outcome = "promoted";
  e.started_ms = 1700000000000;
  e.ended_ms = 1700000095500;  // 1m35.5s later
  e.steps_reached = 3;
  e.steps_total = 3;
  return e;
}

HistoryEntry RolledBack() {
  HistoryEntry e;
  e.id = "d-1700000600000";
  e.command = "deploy";
  e.version = "v3";
  e.from_version = "v2";
  e.outcome = "rolled_back";
  e.reason = "canary error rate 0.25 > 0.01\nin window 2";
  e.reason_kind = "analysis";
  e.started_ms = 1700000600000;
  e.ended_ms = 1700000612345;
  e.steps_reached = 1;
  e.steps_total = 3;
  return e;
}

}  // namespace

TEST_CASE("history entries are appended one line each and read back",
          "[history]") {
  TempDir dir;
  std::string path = dir.path + "/history.jsonl";
  std::string err;
  REQUIRE(
      bgctl::AppendHistory(bgctl::RealFileSystem(), path, Promoted(), &err));
  REQUIRE(
      bgctl::AppendHistory(bgctl::RealFileSystem(), path, RolledBack(), &err));
  std::string text = ReadText(path);
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);

  std::vector<HistoryEntry> entries;
  int skipped = -1;
  REQUIRE(bgctl::ReadHistory(bgctl::RealFileSystem(), path, &entries, &err,
                             &skipped));
  CHECK(skipped == 0);
  REQUIRE(entries.size() == 2);
  CHECK(bgctl::HistoryEntryToJson(entries[0]) ==
        bgctl::HistoryEntryToJson(Promoted()));
  CHECK(bgctl::HistoryEntryToJson(entries[1]) ==
        bgctl::HistoryEntryToJson(RolledBack()));
  CHECK(entries[1].reason == "canary error rate 0.25 > 0.01\nin window 2");
  CHECK(entries[1].reason_kind == "analysis");
  CHECK(text.find("\"reason_kind\":\"analysis\"") != std::string::npos);
}

TEST_CASE("a missing history is empty", "[history]") {
  TempDir dir;
  std::vector<HistoryEntry> entries = {Promoted()};
  std::string err;
  int skipped = -1;
  REQUIRE(bgctl::ReadHistory(bgctl::RealFileSystem(),
                             dir.path + "/history.jsonl", &entries, &err,
                             &skipped));
  CHECK(entries.empty());
  CHECK(skipped == 0);
  CHECK(bgctl::HistoryText(entries) == "no deploys yet\n");
  CHECK(bgctl::HistoryJson(entries) == nlohmann::json::array());
}

TEST_CASE("malformed history lines are skipped and counted", "[history]") {
  TempDir dir;
  std::string path = dir.path + "/history.jsonl";
  std::ofstream(path)
      << bgctl::HistoryEntryToJson(Promoted()).dump() << "\n"
      << "not json at all\n"
      << "\n"
      << "{\"command\": \"deploy\", \"outcome\": \"promoted\"}\n"  // no id
      << "{\"id\": \"x\", \"command\": \"deploy\", \"outcome\": 3}\n"
      << "[1, 2]\n"
      << bgctl::HistoryEntryToJson(RolledBack()).dump() << "\n"
      << "{\"id\": \"d-1\", \"command\": \"dep";  // a torn last line
  std::vector<HistoryEntry> entries;
  std::string err;
  int skipped = 0;
  REQUIRE(bgctl::ReadHistory(bgctl::RealFileSystem(), path, &entries, &err,
                             &skipped));
  CHECK(skipped == 5);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].id == "d-1700000000000");
  CHECK(entries[1].id == "d-1700000600000");
}

TEST_CASE("an unreadable history is an error", "[history]") {
  TempDir dir;
  std::string path = dir.path + "/history.jsonl";
  std::filesystem::create_directory(path);
  std::vector<HistoryEntry> entries;
  std::string err;
  CHECK_FALSE(
      bgctl::ReadHistory(bgctl::RealFileSystem(), path, &entries, &err));
  CHECK(err == "cannot read " + path + ": Is a directory");
}

TEST_CASE("concurrent writers never interleave history lines", "[history]") {
  TempDir dir;
  std::string path = dir.path + "/history.jsonl";
  const int kWriters = 4, kEach = 50;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      HistoryEntry e = RolledBack();
      e.reason = std::string(3000, 'a' + w);  // long lines
      std::string err;
      for (int i = 0; i < kEach; ++i) {
        e.id = "w" + std::to_string(w) + "-" + std::to_string(i);
        if (!bgctl::AppendHistory(bgctl::RealFileSystem(), path, e, &err))
          _exit(1);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  int failures = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  CHECK(failures == 0);
  std::vector<HistoryEntry> entries;
  std::string err;
  int skipped = -1;
  REQUIRE(bgctl::ReadHistory(bgctl::RealFileSystem(), path, &entries, &err,
                             &skipped));
  CHECK(skipped == 0);
  CHECK(entries.size() == kWriters * kEach);
  std::map<char, int> per_writer;
  for (const HistoryEntry& e : entries) {
    REQUIRE(e.reason.size() == 3000);
    CHECK(e.reason.find_first_not_of(e.reason[0]) == std::string::npos);
    per_writer[e.reason[0]]++;
  }
  CHECK(per_writer ==
        std::map<char, int>{
            {'a', kEach}, {'b', kEach}, {'c', kEach}, {'d', kEach}});
}

TEST_CASE("the history table shows UTC times, durations and reasons",
          "[history]") {
  HistoryEntry interrupted = Promoted();
  interrupted.id = "d-1700001000000";
  interrupted.version = "v4";
  interrupted.from_version = "";
  interrupted.outcome = "interrupted";
  interrupted.started_ms = 1700001000000;
  interrupted.ended_ms = 0;
  interrupted.steps_reached = 0;
  HistoryEntry rolled = RolledBack();
  rolled.reason = "canary error rate 0.25 > 0.01";
  CHECK(bgctl::HistoryText({Promoted(), rolled, interrupted}) ==
        "STARTED (UTC)         ID               COMMAND  VERSION  FROM  "
        "OUTCOME      STEPS  DURATION  REASON\n"
        "2023-11-14T22:13:20Z  d-1700000000000  deploy   v2       v1    "
        "promoted     3/3    1m35s\n"
        "2023-11-14T22:23:20Z  d-1700000600000  deploy   v3       v2    "
        "rolled_back  1/3    12.3s     canary error rate 0.25 > 0.01\n"
        "2023-11-14T22:30:00Z  d-1700001000000  deploy   v4       -     "
        "interrupted  0/3    -\n");
}

TEST_CASE("history json carries times as numbers and ISO-8601", "[history]") {
  HistoryEntry open = Promoted();
  open.ended_ms = 0;
  nlohmann::json j = bgctl::HistoryJson({Promoted(), open});
  REQUIRE(j.size() == 2);
  CHECK(j[0]["id"] == "d-1700000000000");
  CHECK(j[0]["outcome"] == "promoted");
  CHECK(j[0]["started_ms"] == 1700000000000);
  CHECK(j[0]["started_at"] == "2023-11-14T22:13:20Z");
  CHECK(j[0]["ended_at"] == "2023-11-14T22:14:55Z");
  CHECK(j[0]["duration_ms"] == 95500);
  CHECK(j[1]["ended_at"].is_null());
  CHECK(j[1]["duration_ms"].is_null());
}

TEST_CASE("elapsed times are formatted for humans", "[history]") {
  CHECK(bgctl::FormatElapsed(850) == "850ms");
  CHECK(bgctl::FormatElapsed(12345) == "12.3s");
  CHECK(bgctl::FormatElapsed(245000) == "4m05s");
  CHECK(bgctl::FormatElapsed(7380000) == "2h03m");
  CHECK(bgctl::FormatElapsed(-5) == "0ms");
}

TEST_CASE("a history reason that is not UTF-8 is written with U+FFFD",
          "[history]") {
  TempDir dir;
  std::string path = dir.path + "/history.jsonl";
  HistoryEntry e;
  e.id = "d-1";
  e.command = "deploy";
  e.outcome = "rolled_back";
  e.reason = "hook said \xFF\xFE";
  std::string err;
  REQUIRE(bgctl::AppendHistory(bgctl::RealFileSystem(), path, e, &err));
  std::vector<HistoryEntry> entries;
  REQUIRE(bgctl::ReadHistory(bgctl::RealFileSystem(), path, &entries, &err));
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].reason == "hook said \xEF\xBF\xBD\xEF\xBF\xBD");
}
