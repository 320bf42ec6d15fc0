#include "controller/env.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/bgctl-env-test-XXXXXX";
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

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE(
    "an atomic write replaces the file with the mode asked for and "
    "leaves no temporary file",
    "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string path = dir.path + "/state.json";
  std::string err;
  mode_t old_umask = umask(077);  // the mode must not depend on the umask
  bool ok = fs->WriteFileAtomic(path, "first\n", &err);
  umask(old_umask);
  REQUIRE(ok);
  CHECK(ReadText(path) == "first\n");
  CHECK(ModeOf(path) == 0644);
  REQUIRE(fs->WriteFileAtomic(path, std::string(100000, 'x'), &err, 0600));
  CHECK(ReadText(path) == std::string(100000, 'x'));
  CHECK(ModeOf(path) == 0600);
  REQUIRE(fs->WriteFileAtomic(path, "", &err, 0600));
  CHECK(ReadText(path) == "");
  CHECK(Names(dir.path) == std::vector<std::string>{"state.json"});

  std::string contents;
  REQUIRE(fs->WriteFileAtomic(path, "third", &err));
  REQUIRE(fs->ReadFile(path, &contents, &err));
  CHECK(contents == "third");
}

TEST_CASE("a failed atomic write leaves the old file intact", "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string path = dir.path + "/upstream.conf";
  std::string err;
  REQUIRE(fs->WriteFileAtomic(path, "old contents\n", &err));
  // In a child whose files may not grow past 8 bytes (EFBIG, as a full disk
  // gives ENOSPC), the write fails half-way through the temporary file.
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {8, 8};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string e;
    bool ok = fs->WriteFileAtomic(path, std::string(100, 'n'), &e);
    std::string report = (ok ? "ok:" : "failed:") + e;
    if (write(fds[1], report.data(), report.size()) < 0) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, n);
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  CHECK(report == "failed:cannot write " + path + ": File too large");
  CHECK(ReadText(path) == "old contents\n");
  CHECK(Names(dir.path) == std::vector<std::string>{"upstream.conf"});

  std::string missing = dir.path + "/no/such/folder/file";
  CHECK_FALSE(fs->WriteFileAtomic(missing, "x", &err));
  CHECK(err == "cannot write " + missing + ": No such file or directory");
  CHECK_FALSE(fs->Exists(missing));
}

TEST_CASE(
    "an atomic write never writes through a symbolic link planted at the "
    "old predictable temporary name or at the path itself",
    "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string victim = dir.path + "/victim";
  { std::ofstream(victim) << "precious\n"; }
  std::string path = dir.path + "/state.json";
  // What bgctl used to open with O_CREAT|O_TRUNC: .NAME.tmp.PID.
  std::string planted =
      dir.path + "/.state.json.tmp." + std::to_string(getpid());
  REQUIRE(symlink(victim.c_str(), planted.c_str()) == 0);
  std::string err;
  REQUIRE(fs->WriteFileAtomic(path, "new state\n", &err, 0600));
  CHECK(ReadText(victim) == "precious\n");
  CHECK(ReadText(path) == "new state\n");
  CHECK(Names(dir.path) ==
        std::vector<std::string>{".state.json.tmp." + std::to_string(getpid()),
                                 "state.json", "victim"});

  // A symbolic link at the path is replaced by the new file, not followed.
  std::string linked = dir.path + "/history.jsonl";
  REQUIRE(symlink(victim.c_str(), linked.c_str()) == 0);
  REQUIRE(fs->WriteFileAtomic(linked, "mine\n", &err));
  CHECK(ReadText(victim) == "precious\n");
  struct stat st;
  REQUIRE(lstat(linked.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(ReadText(linked) == "mine\n");
}

TEST_CASE(
    "appends and reads refuse a symbolic link and anything but a regular "
    "file",
    "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string victim = dir.path + "/victim";
  { std::ofstream(victim) << "precious\n"; }
  std::string history = dir.path + "/history.jsonl";
  REQUIRE(symlink(victim.c_str(), history.c_str()) == 0);
  std::string err;
  CHECK_FALSE(fs->AppendLine(history, "{\"x\":1}\n", &err));
  CHECK(err == "cannot append to " + history +
                   ": is a symbolic link (bgctl never follows one here)");
  CHECK(ReadText(victim) == "precious\n");
  std::string contents = "unchanged";
  CHECK_FALSE(fs->ReadFile(history, &contents, &err));
  CHECK(err == "cannot read " + history +
                   ": is a symbolic link (bgctl never follows one here)");
  CHECK(contents == "unchanged");
  // A dangling link exists (it is something at the path) and is not
  // followed to create its target.
  std::string dangling = dir.path + "/dangling";
  REQUIRE(symlink((dir.path + "/target").c_str(), dangling.c_str()) == 0);
  CHECK(fs->Exists(dangling));
  CHECK_FALSE(fs->AppendLine(dangling, "x\n", &err));
  CHECK_FALSE(fs->Exists(dir.path + "/target"));

  std::string fifo = dir.path + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_FALSE(fs->AppendLine(fifo, "x\n", &err));  // and does not block
  CHECK(err.rfind("cannot append to " + fifo + ": ", 0) == 0);
  CHECK_FALSE(fs->ReadFile(dir.path, &contents, &err));
  CHECK(err == "cannot read " + dir.path + ": Is a directory");
}

TEST_CASE("reading a missing file says so", "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string contents = "unchanged";
  std::string err;
  CHECK_FALSE(fs->ReadFile(dir.path + "/nope", &contents, &err));
  CHECK(err == "cannot read " + dir.path + "/nope: No such file or directory");
  CHECK_FALSE(fs->Exists(dir.path + "/nope"));
  CHECK(fs->Exists(dir.path));
}

TEST_CASE("appended lines accumulate and must end in a newline", "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string path = dir.path + "/events.log";
  std::string err;
  REQUIRE(fs->AppendLine(path, "one\n", &err));
  REQUIRE(fs->AppendLine(path, "two\n", &err));
  CHECK(ReadText(path) == "one\ntwo\n");
  CHECK_FALSE(fs->AppendLine(path, "three", &err));
  CHECK(err == "cannot append to " + path + ": the line does not end in \\n");
  CHECK(ReadText(path) == "one\ntwo\n");
  std::string missing = dir.path + "/no/events.log";
  CHECK_FALSE(fs->AppendLine(missing, "x\n", &err));
  CHECK(err == "cannot append to " + missing + ": No such file or directory");
}

TEST_CASE("MakeDirs creates parents and sets the mode of the last folder",
          "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string path = dir.path + "/a/b/.bgctl";
  std::string err;
  mode_t old_umask = umask(022);
  bool ok = fs->MakeDirs(path, 0700, &err);
  umask(old_umask);
  REQUIRE(ok);
  CHECK(ModeOf(path) == 0700);
  CHECK(ModeOf(dir.path + "/a/b") == 0755);
  // An existing folder keeps its mode (CheckPrivateDir judges it), and a
  // second call is harmless.
  REQUIRE(chmod(path.c_str(), 0777) == 0);
  REQUIRE(fs->MakeDirs(path, 0700, &err));
  CHECK(ModeOf(path) == 0777);
  REQUIRE(fs->MakeDirs(path + "/", 0750, &err));
  CHECK(ModeOf(path) == 0777);
  REQUIRE(fs->MakeDirs(path + "/new/", 0750, &err));
  CHECK(ModeOf(path + "/new") == 0750);

  // A symbolic link to a folder is used as it is: its target's mode is
  // never changed.
  std::string target = dir.path + "/target";
  REQUIRE(mkdir(target.c_str(), 0755) == 0);
  std::string link = dir.path + "/link";
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  REQUIRE(fs->MakeDirs(link, 0700, &err));
  CHECK(ModeOf(target) == 0755);

  std::string file = dir.path + "/file";
  REQUIRE(fs->WriteFileAtomic(file, "x", &err));
  CHECK_FALSE(fs->MakeDirs(file, 0700, &err));
  CHECK(err == "cannot create folder " + file + ": Not a directory");
  CHECK_FALSE(fs->MakeDirs(file + "/sub", 0700, &err));
  CHECK(err == "cannot create folder " + file + "/sub: Not a directory");
}

TEST_CASE("Remove deletes files and accepts ones already gone", "[env]") {
  TempDir dir;
  bgctl::FileSystem* fs = bgctl::RealFileSystem();
  std::string path = dir.path + "/f";
  std::string err;
  REQUIRE(fs->WriteFileAtomic(path, "x", &err));
  REQUIRE(fs->Remove(path, &err));
  CHECK_FALSE(fs->Exists(path));
  CHECK(fs->Remove(path, &err));
}

TEST_CASE("the real clock advances and sleeps at least as long as asked",
          "[env]") {
  bgctl::Clock* clock = bgctl::RealClock();
  int64_t wall = clock->WallMs();
  CHECK(wall > 1600000000000);  // after 2020
  int64_t start = clock->NowMs();
  clock->SleepMs(50);
  int64_t took = clock->NowMs() - start;
  CHECK(took >= 50);
  CHECK(took < 1000);
  start = clock->NowMs();
  clock->SleepMs(0);
  clock->SleepMs(-5);
  CHECK(clock->NowMs() - start < 20);  // no sleep at all
}

TEST_CASE("RealEnv wires up every real implementation", "[env]") {
  bgctl::Env env = bgctl::RealEnv();
  CHECK(env.clock == bgctl::RealClock());
  CHECK(env.fs == bgctl::RealFileSystem());
  CHECK(env.processes != nullptr);
  CHECK(env.processes == bgctl::RealProcessRunner());
  CHECK(env.http != nullptr);
  CHECK(env.http == bgctl::RealHttpProbe());
}

TEST_CASE("CheckPrivateDir refuses folders others can write or own", "[env]") {
  TempDir dir;  // /tmp (1777, root) -> dir (0700, us)
  std::string err;
  std::string state = dir.path + "/state";
  REQUIRE(mkdir(state.c_str(), 0700) == 0);
  CHECK(bgctl::CheckPrivateDir("state_dir", state, &err));
  CHECK(err == "");
  CHECK(bgctl::CheckPrivateDir("state_dir", state + "/", &err));

  for (int mode : {0777, 0770, 0722, 01777}) {
    INFO("mode " << std::oct << mode);
    REQUIRE(chmod(state.c_str(), mode) == 0);
    CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", state, &err));
    char text[8];
    snprintf(text, sizeof(text), "%04o", mode);
    CHECK(err == "state_dir " + state + " is writable by others (mode " + text +
                     "): bgctl refuses it; chmod go-w " + state);
  }
  REQUIRE(chmod(state.c_str(), 0755) == 0);
  CHECK(bgctl::CheckPrivateDir("state_dir", state, &err));

  // A folder above it that others can write (no sticky bit): they could
  // rename the state folder away and put their own in its place.
  REQUIRE(chmod(dir.path.c_str(), 0777) == 0);
  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", state, &err));
  CHECK(err == "folder " + dir.path + " (above state_dir) is writable by " +
                   "others (mode 0777): bgctl refuses it; chmod go-w " +
                   dir.path);
  REQUIRE(chmod(dir.path.c_str(), 01777) == 0);  // sticky, as /tmp: fine
  CHECK(bgctl::CheckPrivateDir("state_dir", state, &err));
  REQUIRE(chmod(dir.path.c_str(), 0700) == 0);

  // A symbolic link is judged where it leads.
  std::string open_dir = dir.path + "/open";
  REQUIRE(mkdir(open_dir.c_str(), 0700) == 0);
  REQUIRE(chmod(open_dir.c_str(), 0777) == 0);
  std::string link = dir.path + "/link";
  REQUIRE(symlink(open_dir.c_str(), link.c_str()) == 0);
  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", link, &err));
  CHECK(err == "state_dir " + open_dir + " is writable by others (mode " +
                   "0777): bgctl refuses it; chmod go-w " + open_dir);

  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", "relative/dir", &err));
  CHECK(err == "cannot check state_dir relative/dir: not an absolute path");
  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", dir.path + "/none", &err));
  CHECK(err == "cannot check state_dir " + dir.path +
                   "/none: No such file or directory");

  if (geteuid() != 0) return;  // chown needs root; CI runs as root
  const uid_t nobody = 65534;
  REQUIRE(chown(state.c_str(), nobody, nobody) == 0);
  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", state, &err));
  CHECK(err == "state_dir " + state +
                   " is owned by uid 65534, neither root nor bgctl's user: "
                   "bgctl refuses it");
  REQUIRE(chown(state.c_str(), 0, 0) == 0);
  std::string their_link = dir.path + "/their-link";
  REQUIRE(symlink(state.c_str(), their_link.c_str()) == 0);
  REQUIRE(lchown(their_link.c_str(), nobody, nobody) == 0);
  CHECK_FALSE(bgctl::CheckPrivateDir("state_dir", their_link, &err));
  CHECK(err == "state_dir " + their_link + ": the symbolic link " + their_link +
                   " is owned by uid 65534, neither root nor bgctl's user: "
                   "bgctl refuses it");
}
