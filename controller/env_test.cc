#include "controller/env.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
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
  // Block the temporary file's name with a folder: the write must fail
  // before it touches `path`.
  std::string tmp =
      dir.path + "/.upstream.conf.tmp." + std::to_string(getpid());
  REQUIRE(mkdir(tmp.c_str(), 0700) == 0);
  CHECK_FALSE(fs->WriteFileAtomic(path, "new contents\n", &err));
  CHECK(err == "cannot write " + path + ": Is a directory");
  CHECK(ReadText(path) == "old contents\n");

  std::string missing = dir.path + "/no/such/folder/file";
  CHECK_FALSE(fs->WriteFileAtomic(missing, "x", &err));
  CHECK(err == "cannot write " + missing + ": No such file or directory");
  CHECK_FALSE(fs->Exists(missing));
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
  // An existing folder gets the mode too, and a second call is harmless.
  REQUIRE(chmod(path.c_str(), 0777) == 0);
  REQUIRE(fs->MakeDirs(path, 0700, &err));
  CHECK(ModeOf(path) == 0700);
  REQUIRE(fs->MakeDirs(path + "/", 0750, &err));
  CHECK(ModeOf(path) == 0750);

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
  clock->SleepMs(0);
  clock->SleepMs(-5);
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
