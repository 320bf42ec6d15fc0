#include "controller/lock.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

using Outcome = bgctl::LockOutcome;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/bgctl-lock-test-XXXXXX";
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

// A forked child; killed and reaped when the guard goes out of scope.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() { Kill(); }
  void Kill() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

// Forks a child that takes the lock on `path`, reports on a pipe ('y' if it
// got the lock, 'n' if not), then runs `then` (which must not return).
// Returns the child's report.
char ForkLockHolder(const std::string& path, ChildGuard* child,
                    void (*then)()) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  child->pid = fork();
  REQUIRE(child->pid >= 0);
  if (child->pid == 0) {
    close(fds[0]);
    bgctl::Lock lock;
    int holder = 0;
    std::string err;
    char c =
        lock.TryAcquire(path, &holder, &err) == Outcome::kAcquired ? 'y' : 'n';
    if (write(fds[1], &c, 1) != 1) _exit(1);
    then();
    _exit(0);
  }
  close(fds[1]);
  char c = 0;
  // Bounded by the child: it writes within milliseconds or dies (EOF).
  ssize_t n = read(fds[0], &c, 1);
  close(fds[0]);
  return n == 1 ? c : '?';
}

void SleepForever() {
  for (int i = 0; i < 600; ++i) sleep(1);
}

// Starts `sleep 30` (inheriting whatever descriptors are not close-on-exec)
// as a grandchild, then exits at once without releasing anything by hand.
void SpawnSleeperAndExit() {
  pid_t g = fork();
  if (g == 0) {
    execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Leave the pid where the test can find it to clean up.
  FILE* f = fopen(
      (std::string(getenv("BGCTL_LOCK_TEST_DIR")) + "/sleeper").c_str(), "w");
  if (f) {
    fprintf(f, "%d\n", g);
    fclose(f);
  }
  _exit(0);
}

}  // namespace

TEST_CASE("a second holder in the same process is refused and named",
          "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  bgctl::Lock first, second;
  int holder = -1;
  std::string err;
  REQUIRE(first.TryAcquire(path, &holder, &err) == Outcome::kAcquired);
  CHECK(first.held());
  CHECK(ReadText(path) == std::to_string(getpid()) + "\n");

  CHECK(second.TryAcquire(path, &holder, &err) == Outcome::kBusy);
  CHECK_FALSE(second.held());
  CHECK(holder == getpid());
  CHECK(err == "another bgctl (pid " + std::to_string(getpid()) +
                   ") holds the lock on " + path);

  first.Release();
  CHECK_FALSE(first.held());
  CHECK(ReadText(path) == "");
  REQUIRE(second.TryAcquire(path, &holder, &err) == Outcome::kAcquired);
  CHECK(second.held());
}

TEST_CASE("a lock held by a killed process is free again", "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  ChildGuard child;
  REQUIRE(ForkLockHolder(path, &child, SleepForever) == 'y');

  bgctl::Lock lock;
  int holder = 0;
  std::string err;
  CHECK(lock.TryAcquire(path, &holder, &err) == Outcome::kBusy);
  CHECK(holder == child.pid);
  CHECK(err == "another bgctl (pid " + std::to_string(child.pid) +
                   ") holds the lock on " + path);

  child.Kill();  // SIGKILL: nothing released by hand
  REQUIRE(lock.TryAcquire(path, &holder, &err) == Outcome::kAcquired);
  CHECK(ReadText(path) == std::to_string(getpid()) + "\n");
}

TEST_CASE("processes started by the lock holder do not inherit the lock",
          "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  setenv("BGCTL_LOCK_TEST_DIR", dir.path.c_str(), 1);
  ChildGuard child;
  REQUIRE(ForkLockHolder(path, &child, SpawnSleeperAndExit) == 'y');
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  child.pid = -1;
  ChildGuard sleeper;  // orphaned grandchild: kill it by pid when done
  std::string sleeper_pid = ReadText(dir.path + "/sleeper");
  REQUIRE(!sleeper_pid.empty());
  sleeper.pid = std::stoi(sleeper_pid);
  // Wait (at most 5 s) until the grandchild has exec'ed sleep: before the
  // exec it still has every descriptor its parent had.
  std::string comm;
  for (int i = 0; i < 500 && comm != "sleep\n"; ++i) {
    comm = ReadText("/proc/" + std::to_string(sleeper.pid) + "/comm");
    if (comm != "sleep\n") usleep(10 * 1000);
  }
  REQUIRE(comm == "sleep\n");

  // The kernel sets the new comm a moment before it closes the close-on-exec
  // descriptors, so allow 1 s; an inherited lock would stay held for 30 s.
  bgctl::Lock lock;
  int holder = 0;
  std::string err;
  Outcome r = Outcome::kBusy;
  for (int i = 0; i < 100 && r == Outcome::kBusy; ++i) {
    r = lock.TryAcquire(path, &holder, &err);
    if (r == Outcome::kBusy) usleep(10 * 1000);
  }
  CHECK(r == Outcome::kAcquired);
}

TEST_CASE(
    "a lock file that cannot be opened or written is a failure (exit 1), "
    "never busy",
    "[lock]") {
  TempDir dir;
  bgctl::Lock lock;
  int holder = -1;
  std::string err;
  std::string missing = dir.path + "/missing/lock";
  CHECK(lock.TryAcquire(missing, &holder, &err) == Outcome::kFailed);
  CHECK(holder == 0);
  CHECK(err ==
        "cannot open lock file " + missing + ": No such file or directory");

  std::string folder = dir.path + "/lock";
  REQUIRE(mkdir(folder.c_str(), 0700) == 0);
  CHECK(lock.TryAcquire(folder, &holder, &err) == Outcome::kFailed);
  CHECK(err == "cannot open lock file " + folder + ": Is a directory");
  // Acquire does not wait on a failure.
  CHECK(lock.Acquire(folder, 5000, nullptr, nullptr, &holder, &err) ==
        Outcome::kFailed);
  CHECK_FALSE(lock.held());
}

TEST_CASE("a symbolic link at the lock's path is refused, its target untouched",
          "[lock]") {
  TempDir dir;
  std::string victim = dir.path + "/victim";
  { std::ofstream(victim) << "precious\n"; }
  std::string path = dir.path + "/lock";
  REQUIRE(symlink(victim.c_str(), path.c_str()) == 0);
  bgctl::Lock lock;
  int holder = -1;
  std::string err;
  CHECK(lock.TryAcquire(path, &holder, &err) == Outcome::kFailed);
  CHECK(err == "cannot open lock file " + path +
                   ": is a symbolic link (bgctl never follows one here)");
  CHECK(ReadText(victim) == "precious\n");
  // A dangling link is not followed to create its target either.
  std::string dangling = dir.path + "/lock2";
  REQUIRE(symlink((dir.path + "/created").c_str(), dangling.c_str()) == 0);
  CHECK(lock.TryAcquire(dangling, &holder, &err) == Outcome::kFailed);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/created"));
}

TEST_CASE("a lock file that cannot be written (disk full) is a failure",
          "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  ChildGuard child;
  child.pid = fork();
  REQUIRE(child.pid >= 0);
  if (child.pid == 0) {
    // Writing past 1 byte fails with EFBIG, as a full disk fails with ENOSPC.
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {1, 1};
    setrlimit(RLIMIT_FSIZE, &limit);
    bgctl::Lock lock;
    int holder = 0;
    std::string err;
    std::string report =
        (lock.TryAcquire(path, &holder, &err) == Outcome::kFailed ? "F:"
                                                                  : "?:") +
        err;
    if (write(fds[1], report.data(), report.size()) < 0) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, n);
  close(fds[0]);
  CHECK(report == "F:cannot write lock file " + path + ": File too large");
}

TEST_CASE("Acquire waits for the holder to let go and names it once",
          "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  ChildGuard child;
  REQUIRE(ForkLockHolder(path, &child, [] {
            usleep(400 * 1000);
            _exit(0);
          }) == 'y');
  std::vector<int> told;
  bgctl::Lock lock;
  int holder = 0;
  std::string err;
  auto start = std::chrono::steady_clock::now();
  CHECK(lock.Acquire(
            path, 10000, nullptr, [&](int pid) { told.push_back(pid); },
            &holder, &err) == Outcome::kAcquired);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
  CHECK(told == std::vector<int>{child.pid});
  CHECK(took >= 300);
  CHECK(took < 5000);
  CHECK(ReadText(path) == std::to_string(getpid()) + "\n");
}

TEST_CASE("Acquire gives up when the wait runs out, and on a stop request",
          "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/lock";
  ChildGuard child;
  REQUIRE(ForkLockHolder(path, &child, SleepForever) == 'y');
  bgctl::Lock lock;
  int holder = 0, calls = 0;
  std::string err;
  auto count = [&](int) { ++calls; };
  auto start = std::chrono::steady_clock::now();
  auto ms_since = [](auto t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - t)
        .count();
  };
  CHECK(lock.Acquire(path, 300, nullptr, count, &holder, &err) ==
        Outcome::kBusy);
  int64_t took = ms_since(start);
  CHECK(took >= 300);
  CHECK(took < 3000);
  CHECK(calls == 1);
  CHECK(holder == child.pid);
  CHECK(err == "another bgctl (pid " + std::to_string(child.pid) +
                   ") holds the lock on " + path + "; waited 300ms");

  // Without a wait: busy at once, nobody told.
  calls = 0;
  CHECK(lock.Acquire(path, 0, nullptr, count, &holder, &err) == Outcome::kBusy);
  CHECK(calls == 0);
  CHECK(err == "another bgctl (pid " + std::to_string(child.pid) +
                   ") holds the lock on " + path);

  volatile std::sig_atomic_t stop = 0;
  std::thread stopper([&] {
    usleep(200 * 1000);
    stop = 1;
  });
  start = std::chrono::steady_clock::now();
  Outcome r = lock.Acquire(path, 60000, &stop, count, &holder, &err);
  took = ms_since(start);
  stopper.join();
  CHECK(r == Outcome::kCancelled);
  CHECK(took >= 150);
  CHECK(took < 3000);
  CHECK(err == "interrupted while waiting for the lock on " + path +
                   " held by bgctl pid " + std::to_string(child.pid));
  CHECK_FALSE(lock.held());
}
