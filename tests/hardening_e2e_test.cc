// End-to-end: bgctl against a hostile filesystem and a busy lock (issue 12
// defects 2, 4, 5 and 7; issue 11's --lock-wait). Real bgctl processes,
// real nginx, real backends.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "controller/lock.h"
#include "tests/support/e2e.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

using bgctl::testing::ChildProcess;
using bgctl::testing::CommandResult;
using bgctl::testing::ReadWholeFile;
using bgctl::testing::RunCommand;
using bgctl::testing::Service;
using bgctl::testing::ServiceOptions;
using bgctl::testing::WriteWholeFile;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// stdout parsed as exactly one JSON document (discarded if it is not).
json OneDocument(const std::string& out) {
  return json::parse(out, nullptr, /*allow_exceptions=*/false);
}

// The names in a folder, recursively, sorted; with their sizes.
std::string Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string name = e.path().string().substr(dir.size());
    if (e.is_regular_file()) name += " " + std::to_string(e.file_size());
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& n : names) out += n + "\n";
  return out;
}

void StartService(Service* svc, const ServiceOptions& o = {}) {
  std::string err;
  const bool started = svc->Start(o, &err);
  INFO(err);
  REQUIRE(started);
}

}  // namespace

TEST_CASE(
    "planted symbolic links for the lock, the state, the history and a "
    "backend log are refused and their targets never touched",
    "[hardening_e2e]") {
  Service svc;
  StartService(&svc);
  const std::string state = svc.dir() + "/state";
  REQUIRE(mkdir(state.c_str(), 0700) == 0);
  const std::string victim = svc.dir() + "/victim";
  REQUIRE(WriteWholeFile(victim, "precious\n"));

  // The lock: bgctl used to truncate the target to 0 bytes and say "busy".
  REQUIRE(symlink(victim.c_str(), (state + "/lock").c_str()) == 0);
  CommandResult r = svc.Bgctl({"deploy", "--version", "v1"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "bgctl: cannot open lock file " + state +
                     "/lock: is a symbolic link (bgctl never follows one "
                     "here)\n");
  CHECK(ReadWholeFile(victim) == "precious\n");
  REQUIRE(unlink((state + "/lock").c_str()) == 0);

  // The state file.
  REQUIRE(symlink(victim.c_str(), (state + "/state.json").c_str()) == 0);
  r = svc.Bgctl({"deploy", "--version", "v1"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "bgctl: cannot read state " + state +
                     "/state.json: is a symbolic link (bgctl never follows "
                     "one here)\n");
  CHECK(ReadWholeFile(victim) == "precious\n");
  REQUIRE(unlink((state + "/state.json").c_str()) == 0);

  // The history: a whole deploy runs, nothing is appended to the target.
  REQUIRE(symlink(victim.c_str(), (state + "/history.jsonl").c_str()) == 0);
  r = svc.Bgctl({"deploy", "--version", "v1"});
  INFO(r.out << r.err);
  CHECK(r.err.find("cannot append to " + state +
                   "/history.jsonl: is a symbolic link") != std::string::npos);
  CHECK(ReadWholeFile(victim) == "precious\n");
  CHECK(fs::is_symlink(state + "/history.jsonl"));

  // A backend's log: v2 would start in green.
  REQUIRE(bgctl::testing::Status(svc)["stable"]["slot"] == "blue");
  REQUIRE(symlink(victim.c_str(), (state + "/logs/green.log").c_str()) == 0);
  r = svc.Bgctl({"deploy", "--version", "v2"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("cannot append to " + state +
                   "/logs/green.log: is a symbolic link") != std::string::npos);
  CHECK(ReadWholeFile(victim) == "precious\n");
  CHECK(svc.BackendPids(svc.green()).empty());
}

TEST_CASE(
    "a state dir or upstream folder that others can write is refused with "
    "exit 1, and a lock file that is not a file is exit 1, not busy",
    "[hardening_e2e]") {
  Service svc;
  StartService(&svc);
  const std::string state = svc.dir() + "/state";
  REQUIRE(mkdir(state.c_str(), 0700) == 0);
  REQUIRE(chmod(state.c_str(), 0777) == 0);
  CommandResult r = svc.Bgctl({"abort"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "bgctl: state_dir " + state +
                     " is writable by others (mode 0777): bgctl refuses it; "
                     "chmod go-w " +
                     state + "\n");
  REQUIRE(chmod(state.c_str(), 0700) == 0);

  const std::string upstream_dir =
      fs::path(svc.nginx().upstream_file()).parent_path().string();
  struct stat st;
  REQUIRE(stat(upstream_dir.c_str(), &st) == 0);
  REQUIRE(chmod(upstream_dir.c_str(), 0775) == 0);
  r = svc.Bgctl({"--output", "json", "abort"});
  CHECK(r.exit_code == 1);
  json doc = OneDocument(r.out);
  CHECK(doc["error"] == "the folder of nginx.upstream_file " + upstream_dir +
                            " is writable by others (mode 0775): bgctl "
                            "refuses it; chmod go-w " +
                            upstream_dir);
  REQUIRE(chmod(upstream_dir.c_str(), st.st_mode & 07777) == 0);

  fs::remove(state + "/lock");  // left by the commands above
  REQUIRE(mkdir((state + "/lock").c_str(), 0700) == 0);
  r = svc.Bgctl({"abort"});
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "bgctl: cannot open lock file " + state + "/lock: Is a directory\n");
}

TEST_CASE(
    "a full disk under the state dir is exit 1 with the reason, never "
    "exit 4",
    "[hardening_e2e]") {
  if (geteuid() != 0) BGCTL_SKIP("mounting a small tmpfs needs root");
  Service svc;
  StartService(&svc);
  const std::string state = svc.dir() + "/state";
  REQUIRE(mkdir(state.c_str(), 0700) == 0);
  // In a private mount namespace (nothing outside sees it): a 16 KiB tmpfs
  // as the state dir, filled up, then bgctl.
  const std::string script =
      "set -e; mount -t tmpfs -o size=16k,mode=0700 bgctl-full \"$1\"; "
      "dd if=/dev/zero of=\"$1/fill\" bs=4k 2>/dev/null || true; "
      "exec \"$2\" -c \"$3\" abort";
  CommandResult r =
      RunCommand({"unshare", "--mount", "--propagation", "private", "sh", "-c",
                  script, "sh", state, BGCTL_BIN, svc.config_path()},
                 30000, svc.dir());
  if (r.err.find("mount") == 0 || r.err.find("unshare:") == 0)
    BGCTL_SKIP("cannot mount a tmpfs here: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "bgctl: cannot write lock file " + state +
                     "/lock: No space left on device\n");
}

TEST_CASE(
    "with --lock-wait a second bgctl waits for the first, names it once and "
    "runs after it, gives up with exit 4, and leaves nothing on a SIGINT",
    "[hardening_e2e]") {
  ServiceOptions o;
  o.steps = "[{weight: 20, pause: 3s}, {weight: 100}]";
  Service svc;
  std::string err;
  const bool started = bgctl::testing::StartWithV1(&svc, o, &err);
  INFO(err);
  REQUIRE(started);
  const std::string state_dir = svc.dir() + "/state";

  // SIGINT while waiting: exit 1 at once, no state change, no stray file.
  {
    bgctl::Lock held;
    int holder = 0;
    REQUIRE(held.TryAcquire(state_dir + "/lock", &holder, &err) ==
            bgctl::LockOutcome::kAcquired);
    const std::string before = Listing(state_dir);
    const std::string state_before = ReadWholeFile(state_dir + "/state.json");
    ChildProcess cancelled;
    const std::string log = svc.dir() + "/cancelled.log";
    REQUIRE(svc.StartBgctl({"--lock-wait", "1m", "set-weight", "50"},
                           &cancelled, log));
    REQUIRE(bgctl::testing::WaitForFileContains(
        log,
        "waiting up to 1m for the lock held by bgctl pid " +
            std::to_string(getpid()) + "\n",
        5000));
    REQUIRE(cancelled.Signal(SIGINT));
    int status = 0;
    REQUIRE(cancelled.WaitExit(2000, &status));
    CHECK(bgctl::testing::ExitCode(status) == 1);
    CHECK(ReadWholeFile(log).find(
              "bgctl: interrupted while waiting for the lock on " + state_dir +
              "/lock held by bgctl pid " + std::to_string(getpid()) + "\n") !=
          std::string::npos);
    CHECK(Listing(state_dir) == before);
    CHECK(ReadWholeFile(state_dir + "/state.json") == state_before);
  }

  ChildProcess first;
  const std::string first_log = svc.dir() + "/first.log";
  REQUIRE(svc.StartBgctl({"deploy", "--version", "v2"}, &first, first_log));
  // It holds the lock once the rollout is under way.
  REQUIRE(bgctl::testing::WaitFor(
      [&] {
        return ReadWholeFile(state_dir + "/lock") ==
               std::to_string(first.pid()) + "\n";
      },
      10000));

  // Gives up after 300 ms.
  int64_t start = bgctl::testing::NowMs();
  CommandResult gave_up = svc.Bgctl({"--lock-wait", "300ms", "abort"});
  int64_t took = bgctl::testing::NowMs() - start;
  CHECK(gave_up.exit_code == 4);
  CHECK(took >= 300);
  CHECK(gave_up.err ==
        "bgctl: another bgctl (pid " + std::to_string(first.pid()) +
            ") holds the lock on " + state_dir + "/lock; waited 300ms\n");

  // Waits for the first deploy to finish, then deploys v3 itself.
  CommandResult queued = svc.Bgctl(
      {"--lock-wait", "1m", "deploy", "--version", "v3", "--steps", "100"});
  INFO(queued.out << queued.err);
  CHECK(queued.exit_code == 0);
  const std::string waiting =
      "waiting up to 1m for the lock held by bgctl pid " +
      std::to_string(first.pid());
  size_t at = queued.out.find(waiting);
  CHECK(at != std::string::npos);
  CHECK(queued.out.find(waiting, at + 1) == std::string::npos);  // once
  int status = 0;
  REQUIRE(first.WaitExit(5000, &status));
  CHECK(bgctl::testing::ExitCode(status) == 0);
  json st = bgctl::testing::Status(svc);
  CHECK(st["phase"] == "promoted");
  CHECK(st["stable"]["version"] == "v3");

  CommandResult bad = svc.Bgctl({"--lock-wait", "soon", "abort"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.rfind("bgctl: --lock-wait: ", 0) == 0);
}

TEST_CASE(
    "bytes that are not UTF-8 in a backend's log reach state.json and "
    "--output json as U+FFFD instead of killing bgctl",
    "[hardening_e2e]") {
  Service svc;
  StartService(&svc);
  std::string yaml = ReadWholeFile(svc.config_path());
  size_t from = yaml.find("  command: ");
  size_t to = yaml.find('\n', from);
  REQUIRE(from != std::string::npos);
  yaml.replace(from, to - from,
               "  command: [/bin/sh, -c, \"printf 'boom \\\\377\\\\376 "
               "bytes\\\\n'; exit 3\"]");
  REQUIRE(WriteWholeFile(svc.config_path(), yaml));
  CommandResult r =
      svc.Bgctl({"--output", "json", "deploy", "--version", "v1"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  json doc = OneDocument(r.out);
  REQUIRE(doc.is_object());
  const std::string replaced = "boom \xEF\xBF\xBD\xEF\xBF\xBD bytes";
  CHECK(doc["status"]["last_error"].get<std::string>().find(replaced) !=
        std::string::npos);
  CHECK(doc["error"].get<std::string>().find(replaced) != std::string::npos);
  json saved = OneDocument(ReadWholeFile(svc.state_path()));
  REQUIRE(saved.is_object());
  CHECK(saved["last_error"].get<std::string>().find(replaced) !=
        std::string::npos);
}

TEST_CASE(
    "every command that fails prints exactly one JSON document with an "
    "error member under --output json",
    "[hardening_e2e]") {
  Service svc;
  StartService(&svc);
  const std::string state = svc.dir() + "/state";
  struct Case {
    std::vector<std::string> args;
    int exit_code;
  };
  const std::vector<Case> idle_failures = {
      {{"deploy", "--version", "bad version!"}, 2},
      {{"deploy", "--version", "v1", "--steps", "50,10"}, 2},
      {{"deploy"}, 2},  // CLI11: --version is required
      {{"frobnicate"}, 2},
      {{"set-weight", "101"}, 2},
      {{"--lock-wait", "x", "abort"}, 2},
      {{"promote"}, 1},
      {{"set-weight", "50"}, 1},
      {{"abort"}, 1},
      {{"rollback"}, 1},
      {{"retire-previous", "--after", "x"}, 2},
      {{"status", "--watch", "--interval", "0s"}, 2},
  };
  for (const Case& c : idle_failures) {
    std::vector<std::string> args = {"--output", "json"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CommandResult r = svc.Bgctl(args);
    INFO("bgctl " << c.args[0] << (c.args.size() > 1 ? " " + c.args[1] : "")
                  << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == c.exit_code);
    json doc = OneDocument(r.out);
    REQUIRE(doc.is_object());
    CHECK(doc["error"].is_string());
    CHECK_FALSE(doc["error"].get<std::string>().empty());
    CHECK(doc["exit_code"] == c.exit_code);
  }

  // Busy: another holder of the lock.
  {
    bgctl::Lock lock;
    int holder = 0;
    std::string err;
    fs::create_directories(state);
    REQUIRE(lock.TryAcquire(state + "/lock", &holder, &err) ==
            bgctl::LockOutcome::kAcquired);
    CommandResult r = svc.Bgctl({"--output", "json", "abort"});
    CHECK(r.exit_code == 4);
    json doc = OneDocument(r.out);
    REQUIRE(doc.is_object());
    CHECK(doc["error"] == "another bgctl (pid " + std::to_string(getpid()) +
                              ") holds the lock on " + state + "/lock");
  }

  // A corrupt state file and an unreadable history.
  REQUIRE(WriteWholeFile(state + "/state.json", "{not json"));
  REQUIRE(mkdir((state + "/history.jsonl").c_str(), 0700) == 0);
  for (std::string cmd : {"status", "history", "deploy", "abort"}) {
    std::vector<std::string> args = {"--output", "json", cmd};
    if (cmd == "deploy") args.insert(args.end(), {"--version", "v1"});
    CommandResult r = svc.Bgctl(args);
    INFO(cmd << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 1);
    json doc = OneDocument(r.out);
    REQUIRE(doc.is_object());
    CHECK(doc["error"].is_string());
  }

  // A bad config file.
  REQUIRE(WriteWholeFile(svc.dir() + "/bad.yaml", "service: [unclosed\n"));
  for (std::string cmd : {"validate", "status", "history"}) {
    CommandResult r = svc.Bgctl({"--output", "json", cmd}, "bad.yaml");
    INFO(cmd << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    json doc = OneDocument(r.out);
    REQUIRE(doc.is_object());
    CHECK(doc["error"].get<std::string>().rfind("bad.yaml:", 0) == 0);
  }

  // Success still prints the command's own document.
  REQUIRE(fs::remove(state + "/state.json"));
  CommandResult ok = svc.Bgctl({"--output", "json", "status"});
  CHECK(ok.exit_code == 0);
  json st = OneDocument(ok.out);
  CHECK(st["phase"] == "idle");
  CHECK_FALSE(st.contains("error"));
}
