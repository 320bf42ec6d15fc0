// RealClock and RealFileSystem; RealEnv() ties them to RealProcessRunner
// (process.cc) and RealHttpProbe (http_probe.cc).
#include "controller/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace bgctl {

namespace {

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + strerror(errno);
}

class RealClockImpl : public Clock {
 public:
  int64_t NowMs() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMs() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count();
  }
  // Sleeps the whole time, resuming after signal handlers.
  void SleepMs(int64_t ms) override {
    if (ms <= 0) return;
    struct timespec ts = {static_cast<time_t>(ms / 1000),
                          static_cast<long>(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
};

// Writes all of `data` to `fd`.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool FsyncDir(const std::string& dir, std::string* err) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *err = Errno("cannot open folder", dir);
    return false;
  }
  bool ok = fsync(fd) == 0;
  if (!ok) *err = Errno("cannot sync folder", dir);
  close(fd);
  return ok;
}

class RealFileSystemImpl : public FileSystem {
 public:
  bool ReadFile(const std::string& path, std::string* contents,
                std::string* err) override {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *err = Errno("cannot read", path);
      return false;
    }
    contents->clear();
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *err = Errno("cannot read", path);
        close(fd);
        return false;
      }
      if (n == 0) break;
      contents->append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return true;
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
  }

  bool WriteFileAtomic(const std::string& path, const std::string& contents,
                       std::string* err, int mode) override {
    std::string dir = DirOf(path);
    std::string tmp =
        dir + "/." + BaseOf(path) + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  mode & 07777);
    if (fd < 0) {
      *err = Errno("cannot write", path);
      return false;
    }
    // fchmod: the umask must not change the mode asked for.
    bool ok = fchmod(fd, mode & 07777) == 0 && WriteAll(fd, contents) &&
              fsync(fd) == 0;
    if (!ok) *err = Errno("cannot write", path);
    if (close(fd) != 0 && ok) {
      *err = Errno("cannot write", path);
      ok = false;
    }
    if (ok && rename(tmp.c_str(), path.c_str()) != 0) {
      *err = Errno("cannot write", path);
      ok = false;
    }
    if (!ok) {
      unlink(tmp.c_str());
      return false;
    }
    return FsyncDir(dir, err);
  }

  bool AppendLine(const std::string& path, const std::string& line,
                  std::string* err) override {
    if (line.empty() || line.back() != '\n') {
      *err = "cannot append to " + path + ": the line does not end in \\n";
      return false;
    }
    int fd =
        open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      *err = Errno("cannot append to", path);
      return false;
    }
    ssize_t n;
    do {
      n = write(fd, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    bool ok = n == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
    if (!ok) {
      if (n >= 0 && n != static_cast<ssize_t>(line.size())) errno = EIO;
      *err = Errno("cannot append to", path);
    }
    close(fd);
    return ok;
  }

  bool MakeDirs(const std::string& path, int mode, std::string* err) override {
    if (path.empty()) {
      *err = "cannot create folder \"\": empty path";
      return false;
    }
    // Create each missing component; parents get 0755.
    for (size_t pos = 1; pos <= path.size(); ++pos) {
      if (pos < path.size() && path[pos] != '/') continue;
      std::string part = path.substr(0, pos);
      if (mkdir(part.c_str(), pos == path.size() ? mode : 0755) != 0 &&
          errno != EEXIST) {
        *err = Errno("cannot create folder", part);
        return false;
      }
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      *err = Errno("cannot create folder", path);
      return false;
    }
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      *err = Errno("cannot create folder", path);
      return false;
    }
    if (chmod(path.c_str(), mode & 07777) != 0) {
      *err = Errno("cannot set the mode of", path);
      return false;
    }
    return true;
  }

  // A missing file counts as removed.
  bool Remove(const std::string& path, std::string* err) override {
    if (::remove(path.c_str()) == 0 || errno == ENOENT) return true;
    *err = Errno("cannot remove", path);
    return false;
  }
};

}  // namespace

Clock* RealClock() {
  static RealClockImpl* clock = new RealClockImpl;
  return clock;
}

FileSystem* RealFileSystem() {
  static RealFileSystemImpl* fs = new RealFileSystemImpl;
  return fs;
}

Env RealEnv() {
  Env env;
  env.clock = RealClock();
  env.fs = RealFileSystem();
  env.processes = RealProcessRunner();
  env.http = RealHttpProbe();
  return env;
}

}  // namespace bgctl
