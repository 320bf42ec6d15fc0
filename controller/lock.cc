#include "controller/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bgctl {

namespace {

// The pid written in the lock file, 0 if there is none (yet).
int ReadHolder(int fd) {
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char* end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (end == buf || pid <= 0 || pid > 0x7fffffff) return 0;
  return static_cast<int>(pid);
}

}  // namespace

Lock::~Lock() { Release(); }

bool Lock::TryAcquire(const std::string& path, int* holder_pid,
                      std::string* err) {
  *holder_pid = 0;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = "cannot open lock file " + path + ": " + strerror(errno);
    return false;
  }
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int saved = errno;
    if (saved != EWOULDBLOCK) {
      close(fd);
      *err = "cannot lock " + path + ": " + strerror(saved);
      return false;
    }
    // The holder writes its pid just after taking the lock: give it a moment
    // (at most 20 x 5 ms) if the file is still empty.
    for (int i = 0; i < 20 && (*holder_pid = ReadHolder(fd)) == 0; ++i) {
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
    close(fd);
    std::string who = *holder_pid ? std::to_string(*holder_pid) : "unknown";
    *err = "another bgctl (pid " + who + ") holds the lock on " + path;
    return false;
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) !=
                                   static_cast<ssize_t>(pid.size())) {
    *err = "cannot write lock file " + path + ": " + strerror(errno);
    close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

void Lock::Release() {
  if (fd_ < 0) return;
  // Still holding the lock here, so nobody else's pid is erased.
  if (ftruncate(fd_, 0) != 0) {
    // Harmless: the next holder overwrites the pid.
  }
  close(fd_);  // releases the flock
  fd_ = -1;
}

}  // namespace bgctl
