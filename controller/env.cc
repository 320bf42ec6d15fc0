// RealClock and RealFileSystem; RealEnv() ties them to RealProcessRunner
// (process.cc) and RealHttpProbe (http_probe.cc).
#include "controller/env.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>
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
  return what + " " + path + ": " + FileErrorText(errno);
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

// A random 16-hex-digit name part from getrandom(2).
std::string RandomSuffix() {
  uint64_t r = 0;
  while (getrandom(&r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) {
    // EINTR, or a short read before the pool is ready: try again.
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

// Creates `prefix` + a random suffix exclusively (O_EXCL: never an existing
// file, never through a symbolic link). Sets *path; -1 with errno on error.
int CreateTemp(const std::string& prefix, int mode, std::string* path) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    *path = prefix + RandomSuffix();
    int fd = open(path->c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  mode & 07777);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;  // errno is EEXIST
}

// Sets the mode of the folder bgctl just created at `path` (fchmod, so the
// umask does not change it), never through a symbolic link.
bool SetDirMode(const std::string& path, int mode, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  bool ok = fd >= 0 && fchmod(fd, mode & 07777) == 0;
  if (!ok) *err = Errno("cannot set the mode of", path);
  if (fd >= 0) close(fd);
  return ok;
}

class RealFileSystemImpl : public FileSystem {
 public:
  bool ReadFile(const std::string& path, std::string* contents,
                std::string* err) override {
    int fd = OpenRegularNoFollow(path, O_RDONLY);
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
    struct stat st;  // a symbolic link exists, wherever it points
    return lstat(path.c_str(), &st) == 0;
  }

  bool WriteFileAtomic(const std::string& path, const std::string& contents,
                       std::string* err, int mode) override {
    std::string dir = DirOf(path);
    std::string tmp;
    int fd = CreateTemp(dir + "/." + BaseOf(path) + ".tmp.", mode, &tmp);
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
    // rename() replaces a symbolic link at `path` itself, never its target.
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
    int fd = OpenRegularNoFollow(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
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
    std::string dir = path;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    bool created = false;  // the last folder, by this call
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
      if (pos < dir.size() && dir[pos] != '/') continue;
      std::string part = dir.substr(0, pos);
      created = mkdir(part.c_str(), pos == dir.size() ? mode : 0755) == 0;
      if (!created && errno != EEXIST) {
        *err = Errno("cannot create folder", part);
        return false;
      }
    }
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      *err = Errno("cannot create folder", path);
      return false;
    }
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      *err = Errno("cannot create folder", path);
      return false;
    }
    if (!created) return true;
    return SetDirMode(dir, mode, err);
  }

  // A missing file counts as removed.
  bool Remove(const std::string& path, std::string* err) override {
    if (::remove(path.c_str()) == 0 || errno == ENOENT) return true;
    *err = Errno("cannot remove", path);
    return false;
  }
};

}  // namespace

int OpenRegularNoFollow(const std::string& path, int flags, int mode) {
  int fd =
      open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
  if (fd < 0) return -1;
  struct stat st;
  int e = 0;
  if (fstat(fd, &st) != 0) {
    e = errno;
  } else if (S_ISDIR(st.st_mode)) {
    e = EISDIR;
  } else if (!S_ISREG(st.st_mode)) {
    e = EINVAL;  // a FIFO, a socket, a device
  } else if (!(flags & O_NONBLOCK) &&
             fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    e = errno;
  }
  if (e == 0) return fd;
  close(fd);
  errno = e;
  return -1;
}

std::string FileErrorText(int e) {
  if (e == ELOOP) return "is a symbolic link (bgctl never follows one here)";
  if (e == EINVAL) return "not a regular file";
  return strerror(e);
}

namespace {

std::string ModeText(mode_t mode) {
  char buf[8];
  snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool TrustedOwner(uid_t uid) { return uid == 0 || uid == geteuid(); }

// Judges one folder on the way to (or at, when `last`) the checked folder.
bool CheckFolder(const std::string& what, const std::string& path,
                 const struct stat& st, bool last, std::string* err) {
  std::string role =
      last ? what + " " + path : "folder " + path + " (above " + what + ")";
  if (!TrustedOwner(st.st_uid)) {
    *err = role + " is owned by uid " + std::to_string(st.st_uid) +
           ", neither root nor bgctl's user: bgctl refuses it";
    return false;
  }
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (others_write && (last || !(st.st_mode & S_ISVTX))) {
    *err = role + " is writable by others (mode " + ModeText(st.st_mode) +
           "): bgctl refuses it; chmod go-w " + path;
    return false;
  }
  return true;
}

// Checks "/" and every longer prefix of the absolute `path`; with
// `links_only`, only the symbolic links on it (the resolved walk checks the
// folders they lead to).
bool WalkFolders(const std::string& what, const std::string& path,
                 bool links_only, std::string* err) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    const bool at_end = pos == path.size();
    if (pos > 1 && !at_end && path[pos] != '/') continue;
    if (pos > 1 && path[pos - 1] == '/') continue;  // "//" or a final '/'
    const std::string part = pos == 1 ? "/" : path.substr(0, pos);
    if (pos == 1 && !at_end && links_only) continue;
    struct stat st;
    if (lstat(part.c_str(), &st) != 0) {
      *err = Errno("cannot check", part);
      return false;
    }
    if (!links_only) {
      if (!CheckFolder(what, part, st, at_end, err)) return false;
    } else if (S_ISLNK(st.st_mode) && !TrustedOwner(st.st_uid)) {
      *err = what + " " + path + ": the symbolic link " + part +
             " is owned by uid " + std::to_string(st.st_uid) +
             ", neither root nor bgctl's user: bgctl refuses it";
      return false;
    }
  }
  return true;
}

}  // namespace

bool CheckPrivateDir(const std::string& what, const std::string& dir,
                     std::string* err) {
  char resolved[PATH_MAX];
  if (dir.empty() || dir[0] != '/' ||
      realpath(dir.c_str(), resolved) == nullptr) {
    if (dir.empty() || dir[0] != '/') errno = EINVAL;
    *err = "cannot check " + what + " " + dir + ": " +
           (errno == EINVAL ? "not an absolute path" : strerror(errno));
    return false;
  }
  return WalkFolders(what, dir, /*links_only=*/true, err) &&
         WalkFolders(what, resolved, /*links_only=*/false, err);
}

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
