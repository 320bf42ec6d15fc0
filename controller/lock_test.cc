#include "controller/lock.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

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
    char c = lock.TryAcquire(path, &holder, &err) ? 'y' : 'n';
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
  REQUIRE(first.TryAcquire(path, &holder, &err));
  CHECK(first.held());
  CHECK(ReadText(path) == std::to_string(getpid()) + "\n");

  CHECK_FALSE(second.TryAcquire(path, &holder, &err));
  CHECK_FALSE(second.held());
  CHECK(holder == getpid());
  CHECK(err == "another bgctl (pid " + std::to_string(getpid()) +
                   ") holds the lock on " + path);

  first.Release();
  CHECK_FALSE(first.held());
  CHECK(ReadText(path) == "");
  REQUIRE(second.TryAcquire(path, &holder, &err));
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
  CHECK_FALSE(lock.TryAcquire(path, &holder, &err));
  CHECK(holder == child.pid);
  CHECK(err == "another bgctl (pid " + std::to_string(child.pid) +
                   ") holds the lock on " + path);

  child.Kill();  // SIGKILL: nothing released by hand
  REQUIRE(lock.TryAcquire(path, &holder, &err));
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

  bgctl::Lock lock;
  int holder = 0;
  std::string err;
  CHECK(lock.TryAcquire(path, &holder, &err));
  CHECK(err == "");
}

TEST_CASE("a lock file that cannot be opened is reported", "[lock]") {
  TempDir dir;
  std::string path = dir.path + "/missing/lock";
  bgctl::Lock lock;
  int holder = -1;
  std::string err;
  CHECK_FALSE(lock.TryAcquire(path, &holder, &err));
  CHECK(holder == 0);
  CHECK(err == "cannot open lock file " + path + ": No such file or directory");
}
