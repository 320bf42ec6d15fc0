// RealProcessRunner against real processes. /bin/sh -c is used here only as
// the child program, to build children with unusual behaviour.
#include "controller/process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "controller/fake_env.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

using testing::TempDir;

// SIGKILLs the process (and its group if it leads one) and reaps it, if it
// still runs with the start time seen when the guard was made.
class ProcessGuard {
 public:
  explicit ProcessGuard(int pid) : pid_(pid) {
    if (!ReadStartTime(pid_, &start_time_)) pid_ = 0;
  }
  ~ProcessGuard() {
    uint64_t now = 0;
    if (pid_ <= 1 || !ReadStartTime(pid_, &now) || now != start_time_) return;
    if (getpgid(pid_) == pid_) kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

 private:
  int pid_;
  uint64_t start_time_ = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Polls `done` every 5 ms for at most limit_ms.
bool WaitUntil(const std::function<bool()>& done, int64_t limit_ms) {
  int64_t end = NowMs() + limit_ms;
  while (!done()) {
    if (NowMs() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string ReadAll(const std::string& path) {
  return testing::ReadWholeFile(path);
}

// Gone, or a zombie nobody has reaped yet (init may not reap in a container).
bool GoneOrZombie(int pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t close = stat.rfind(')');
  return close != std::string::npos && stat[close + 2] == 'Z';
}

// A line "Name:\tvalue" of /proc/PID/status.
std::string StatusField(int pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":\t", 0) == 0) return line.substr(name.size() + 2);
  }
  return "";
}

SpawnSpec ShSpec(const std::string& script, const std::string& log) {
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.log_path = log;
  return spec;
}

TEST_CASE(
    "a spawned process runs detached in its own session with stdin from "
    "/dev/null and output appended to its log",
    "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  SpawnSpec spec;
  spec.argv = {"sleep", "30"};  // found in PATH
  spec.log_path = dir.path() + "/app.log";
  ProcessId id;
  std::string err;
  REQUIRE(runner->Spawn(spec, &id, &err));
  ProcessGuard guard(id.pid);
  CHECK(err.empty());
  CHECK(getsid(id.pid) == id.pid);
  CHECK(getpgid(id.pid) == id.pid);
  uint64_t start_time = 0;
  REQUIRE(ReadStartTime(id.pid, &start_time));
  CHECK(id.start_time == start_time);
  CHECK(runner->IsAlive(id));
  std::string fd = "/proc/" + std::to_string(id.pid) + "/fd/";
  CHECK(std::filesystem::read_symlink(fd + "0") == "/dev/null");
  CHECK(std::filesystem::read_symlink(fd + "1") == spec.log_path);
  CHECK(std::filesystem::read_symlink(fd + "2") == spec.log_path);
  std::string fdinfo = ReadAll("/proc/" + std::to_string(id.pid) + "/fdinfo/1");
  // flags are octal in fdinfo; O_APPEND is 02000.
  size_t at = fdinfo.find("flags:");
  REQUIRE(at != std::string::npos);
  unsigned long fdflags = std::stoul(fdinfo.substr(at + 6), nullptr, 8);
  CHECK((fdflags & O_APPEND) != 0);
}

TEST_CASE("two spawns append to the same log and keep what was there",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  std::string log = dir.path() + "/app.log";
  { std::ofstream(log) << "before\n"; }
  for (int i = 1; i <= 2; ++i) {
    ProcessId id;
    std::string err;
    SpawnSpec spec =
        ShSpec("echo out" + std::to_string(i) + "; echo err >&2", log);
    REQUIRE(runner->Spawn(spec, &id, &err));
    ProcessGuard guard(id.pid);
    REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  }
  CHECK(ReadAll(log) == "before\nout1\nerr\nout2\nerr\n");
}

TEST_CASE(
    "a spawned process gets bgctl's environment plus the spec's variables "
    "and runs in the working folder",
    "[process]") {
  TempDir dir;
  setenv("BGCTL_PROCESS_TEST_INHERITED", "from-parent", 1);
  ProcessRunner* runner = RealProcessRunner();
  SpawnSpec spec =
      ShSpec("echo \"$BGCTL_PROCESS_TEST_INHERITED $APP_ENV $EXTRA\"; pwd",
             dir.path() + "/app.log");
  spec.env = {{"APP_ENV", "production"}, {"EXTRA", "a b"}};
  spec.workdir = dir.path();
  ProcessId id;
  std::string err;
  REQUIRE(runner->Spawn(spec, &id, &err));
  ProcessGuard guard(id.pid);
  REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  CHECK(ReadAll(spec.log_path) ==
        "from-parent production a b\n" + dir.path() + "\n");
}

TEST_CASE("a relative program path is taken from the working folder",
          "[process]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/bin");
  std::string script = dir.path() + "/bin/hello";
  { std::ofstream(script) << "#!/bin/sh\necho hello from $(pwd)\n"; }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  SpawnSpec spec;
  spec.argv = {"bin/hello"};
  spec.workdir = dir.path();
  spec.log_path = dir.path() + "/app.log";
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  REQUIRE(runner->Spawn(spec, &id, &err));
  ProcessGuard guard(id.pid);
  REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  CHECK(ReadAll(spec.log_path) == "hello from " + dir.path() + "\n");
}

TEST_CASE("spawning a program that does not exist fails with the reason",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  SpawnSpec spec;
  spec.log_path = dir.path() + "/app.log";
  ProcessId id;
  std::string err;
  spec.argv = {"xyz-no-such-program"};
  CHECK_FALSE(runner->Spawn(spec, &id, &err));
  CHECK(err ==
        "cannot start \"xyz-no-such-program\": No such file or directory");
  spec.argv = {dir.path() + "/missing", "--port", "1"};
  CHECK_FALSE(runner->Spawn(spec, &id, &err));
  CHECK(err == "cannot start \"" + dir.path() +
                   "/missing\": No such file or directory");
  spec.argv = {"/bin/sleep", "1"};
  spec.workdir = dir.path() + "/nope";
  CHECK_FALSE(runner->Spawn(spec, &id, &err));
  CHECK(err == "cannot start \"/bin/sleep\": working folder \"" + dir.path() +
                   "/nope\": No such file or directory");
  std::string plain = dir.path() + "/plain";
  { std::ofstream(plain) << "#!/bin/sh\n"; }  // not executable
  spec.argv = {plain};
  spec.workdir = "";
  CHECK_FALSE(runner->Spawn(spec, &id, &err));
  CHECK(err == "cannot start \"" + plain + "\": Permission denied");
  CHECK(id.pid == 0);
}

TEST_CASE("a process that exited is not alive and has been reaped",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  REQUIRE(runner->Spawn(ShSpec("exit 0", dir.path() + "/log"), &id, &err));
  ProcessGuard guard(id.pid);
  REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  errno = 0;
  CHECK(waitpid(id.pid, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);  // IsAlive reaped it: no zombie left
  CHECK_FALSE(std::filesystem::exists("/proc/" + std::to_string(id.pid)));
}

TEST_CASE("a killed process is not alive and Signal then refuses it",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  SpawnSpec spec;
  spec.argv = {"/bin/sleep", "30"};
  spec.log_path = dir.path() + "/log";
  REQUIRE(runner->Spawn(spec, &id, &err));
  ProcessGuard guard(id.pid);
  REQUIRE(runner->Signal(id, SIGKILL, &err));
  REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  CHECK_FALSE(runner->Signal(id, SIGTERM, &err));
  CHECK(err == "process " + std::to_string(id.pid) + " is not running");
  int64_t cpu = 0;
  CHECK_FALSE(runner->CpuTimeMs(id, &cpu));
}

TEST_CASE("a pid whose start time differs is never taken for our process",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  SpawnSpec spec;
  spec.argv = {"/bin/sleep", "30"};
  spec.log_path = dir.path() + "/log";
  REQUIRE(runner->Spawn(spec, &id, &err));
  ProcessGuard guard(id.pid);
  ProcessId reused = id;
  reused.start_time = id.start_time + 1;
  CHECK_FALSE(runner->IsAlive(reused));
  CHECK_FALSE(runner->Signal(reused, SIGKILL, &err));
  CHECK(err == "process " + std::to_string(id.pid) + " is not running");
  int64_t cpu = 0;
  CHECK_FALSE(runner->CpuTimeMs(reused, &cpu));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(runner->IsAlive(id));  // the SIGKILL was never sent
  CHECK_FALSE(runner->IsAlive(ProcessId{0, 0}));
  CHECK_FALSE(runner->Signal(ProcessId{1, 0}, 0, &err));
}

TEST_CASE("Signal reaches the whole process group of a spawned process",
          "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  std::string log = dir.path() + "/log";
  ProcessId id;
  std::string err;
  REQUIRE(runner->Spawn(ShSpec("sleep 30 & echo $!; wait", log), &id, &err));
  ProcessGuard guard(id.pid);
  REQUIRE(WaitUntil(
      [&] { return ReadAll(log).find('\n') != std::string::npos; }, 5000));
  int grandchild = std::stoi(ReadAll(log));
  CHECK(getpgid(grandchild) == id.pid);
  REQUIRE(runner->Signal(id, SIGTERM, &err));
  CHECK(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  CHECK(WaitUntil([&] { return GoneOrZombie(grandchild); }, 5000));
}

TEST_CASE(
    "a spawned process starts with default signal handling even when bgctl "
    "ignores or blocks signals",
    "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  // tests/main.cc ignores SIGPIPE; also block SIGTERM in this thread.
  struct sigaction old_pipe;
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_pipe);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old_mask);
  SpawnSpec spec;
  spec.argv = {"/bin/sleep", "30"};
  spec.log_path = dir.path() + "/log";
  ProcessId id;
  std::string err;
  bool spawned = runner->Spawn(spec, &id, &err);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  REQUIRE(spawned);
  ProcessGuard guard(id.pid);
  CHECK(StatusField(id.pid, "SigIgn") == "0000000000000000");
  CHECK(StatusField(id.pid, "SigBlk") == "0000000000000000");
}

TEST_CASE("a child does not inherit bgctl's other file descriptors",
          "[process]") {
  TempDir dir;
  std::string secret = dir.path() + "/lock";
  { std::ofstream(secret) << "x"; }
  int fd = open(secret.c_str(), O_RDONLY);  // no O_CLOEXEC on purpose
  REQUIRE(fd >= 3);
  std::string script = "for fd in 0 1 2 " + std::to_string(fd) +
                       "; do if [ -e /proc/self/fd/$fd ]; then echo $fd open;"
                       " else echo $fd closed; fi; done";
  std::string expected =
      "0 open\n1 open\n2 open\n" + std::to_string(fd) + " closed\n";
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  SpawnSpec spec = ShSpec(script, dir.path() + "/log");
  bool spawned = runner->Spawn(spec, &id, &err);
  RunResult run;
  bool ran = runner->Run({"/bin/sh", "-c", script}, "", 5000, &run, &err);
  close(fd);
  REQUIRE(spawned);
  ProcessGuard guard(id.pid);
  REQUIRE(ran);
  CHECK(run.output == expected);
  REQUIRE(WaitUntil([&] { return !runner->IsAlive(id); }, 5000));
  CHECK(ReadAll(spec.log_path) == expected);
}

TEST_CASE("CpuTimeMs counts the CPU time a busy process uses", "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  ProcessId id;
  std::string err;
  int64_t started = NowMs();
  REQUIRE(runner->Spawn(ShSpec("while :; do :; done", dir.path() + "/log"), &id,
                        &err));
  ProcessGuard guard(id.pid);
  int64_t cpu = -1;
  REQUIRE(runner->CpuTimeMs(id, &cpu));
  CHECK(cpu != -1);                      // it was set
  CHECK(cpu <= NowMs() - started + 10);  // and is bounded by its wall time
  CHECK(WaitUntil([&] { return runner->CpuTimeMs(id, &cpu) && cpu >= 100; },
                  10000));
  // Never more than the wall time it has had (one thread), give or take a
  // clock tick.
  CHECK(cpu <= NowMs() - started + 10);
}

TEST_CASE("Run captures stdout and stderr and the exit code", "[process]") {
  TempDir dir;
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  REQUIRE(runner->Run({"sh", "-c", "echo hi; echo oops >&2; pwd; exit 3"},
                      dir.path(), 5000, &out, &err));
  CHECK(out.exit_code == 3);
  CHECK_FALSE(out.timed_out);
  CHECK(out.output == "hi\noops\n" + dir.path() + "\n");
  REQUIRE(runner->Run({"/bin/sh", "-c", "read x; echo \"[$x]\""}, "", 5000,
                      &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output == "[]\n");  // stdin is /dev/null
  REQUIRE(runner->Run({"/bin/sh", "-c", "kill -9 $$"}, "", 5000, &out, &err));
  CHECK(out.exit_code == -1);
  CHECK_FALSE(out.timed_out);
}

TEST_CASE("Run reports a program that cannot start", "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  CHECK_FALSE(runner->Run({"xyz-no-such-program", "-t"}, "", 1000, &out, &err));
  CHECK(err ==
        "cannot start \"xyz-no-such-program\": No such file or directory");
  CHECK_FALSE(runner->Run({}, "", 1000, &out, &err));
  CHECK(err == "cannot start an empty command");
}

TEST_CASE("Run kills the whole process group at the timeout", "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  int64_t start = NowMs();
  REQUIRE(runner->Run({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, "", 300,
                      &out, &err));
  int64_t took = NowMs() - start;
  CHECK(out.timed_out);
  CHECK(out.exit_code == -1);
  CHECK(took >= 300);
  CHECK(took < 1500);
  REQUIRE_FALSE(out.output.empty());
  int grandchild = std::stoi(out.output);
  ProcessGuard guard(grandchild);  // in case the test fails
  CHECK(WaitUntil([&] { return GoneOrZombie(grandchild); }, 2000));
}

TEST_CASE("Run keeps reading a chatty child so it never blocks", "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  REQUIRE(runner->Run({"/bin/sh", "-c", "head -c 1000000 /dev/zero"}, "", 10000,
                      &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output.size() == 1000000);
  // More than the cap: the child still finishes, the rest is dropped.
  REQUIRE(runner->Run({"/bin/sh", "-c", "head -c 3000000 /dev/zero; echo end"},
                      "", 10000, &out, &err));
  CHECK(out.exit_code == 0);
  CHECK_FALSE(out.timed_out);
  CHECK(out.output.size() == kMaxRunOutput);
}

TEST_CASE("Run does not wait for a grandchild that keeps the output open",
          "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  int64_t start = NowMs();
  // setsid's child leaves the group, so only the 200 ms bound ends the read.
  REQUIRE(runner->Run({"/bin/sh", "-c", "setsid sleep 30 & echo $!"}, "", 5000,
                      &out, &err));
  int64_t took = NowMs() - start;
  REQUIRE_FALSE(out.output.empty());
  ProcessGuard guard(std::stoi(out.output));
  CHECK(out.exit_code == 0);
  CHECK_FALSE(out.timed_out);
  CHECK(took < 1500);
}

TEST_CASE("TailOfFile keeps the last lines of a log", "[process]") {
  fake::FakeFileSystem fs;
  fs.files["a"] = "one\ntwo\nthree\n";
  fs.files["b"] = "one\ntwo\nthree";
  fs.files["empty"] = "";
  CHECK(TailOfFile(&fs, "a", 2) == "two\nthree\n");
  CHECK(TailOfFile(&fs, "a", 1) == "three\n");
  CHECK(TailOfFile(&fs, "a", 3) == "one\ntwo\nthree\n");
  CHECK(TailOfFile(&fs, "a", 10) == "one\ntwo\nthree\n");
  CHECK(TailOfFile(&fs, "a", 0) == "");
  CHECK(TailOfFile(&fs, "b", 2) == "two\nthree");
  CHECK(TailOfFile(&fs, "empty", 2) == "");
  CHECK(TailOfFile(&fs, "missing", 2) == "");
  // Bytes that are not UTF-8 come back as U+FFFD, ready for state.json.
  fs.files["bad"] = "\xFF\xFE\nboom \xC3\n";
  CHECK(TailOfFile(&fs, "bad", 1) == "boom \xEF\xBF\xBD\n");
}

TEST_CASE("Spawn never appends to a log through a symbolic link", "[process]") {
  TempDir dir;
  std::string victim = dir.path() + "/victim";
  std::string log = dir.path() + "/blue.log";
  REQUIRE(testing::WriteWholeFile(victim, "precious\n"));
  REQUIRE(symlink(victim.c_str(), log.c_str()) == 0);
  ProcessId id;
  std::string err;
  CHECK_FALSE(RealProcessRunner()->Spawn(ShSpec("echo hi", log), &id, &err));
  CHECK(err == "cannot open log " + log +
                   ": is a symbolic link (bgctl never follows one here)");
  CHECK(testing::ReadWholeFile(victim) == "precious\n");
}

TEST_CASE("ReadStartTime reads field 22 of /proc/PID/stat", "[process]") {
  std::string stat = ReadAll("/proc/self/stat");
  // Field 22 counted after the command name's closing parenthesis.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) rest >> field;
  uint64_t start_time = 0;
  REQUIRE(ReadStartTime(getpid(), &start_time));
  CHECK(start_time == std::stoull(field));
  CHECK_FALSE(ReadStartTime(0, &start_time));
  CHECK_FALSE(ReadStartTime(-5, &start_time));
}

}  // namespace
}  // namespace bgctl
