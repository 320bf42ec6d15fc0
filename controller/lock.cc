#include "controller/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "controller/duration.h"
#include "controller/env.h"

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

void SleepMs(int ms) {
  struct timespec ts = {0, ms * 1000 * 1000L};
  nanosleep(&ts, nullptr);  // EINTR: a signal, checked by the caller
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

// Writes all of `data` at offset 0; false with errno set (a short write is
// retried, so a full disk reports ENOSPC, not success).
bool WriteAllAt(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {
      errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string Who(int pid) { return pid ? std::to_string(pid) : "unknown"; }

}  // namespace

Lock::~Lock() { Release(); }

LockOutcome Lock::TryAcquire(const std::string& path, int* holder_pid,
                             std::string* err) {
  *holder_pid = 0;
  int fd = OpenRegularNoFollow(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) {
    *err = "cannot open lock file " + path + ": " + FileErrorText(errno);
    return LockOutcome::kFailed;
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
      return LockOutcome::kFailed;
    }
    // The holder writes its pid just after taking the lock: give it a moment
    // (at most 20 x 5 ms) if the file is still empty.
    for (int i = 0; i < 20 && (*holder_pid = ReadHolder(fd)) == 0; ++i) {
      SleepMs(5);
    }
    close(fd);
    *err = "another bgctl (pid " + Who(*holder_pid) + ") holds the lock on " +
           path;
    return LockOutcome::kBusy;
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || !WriteAllAt(fd, pid)) {
    *err = "cannot write lock file " + path + ": " + strerror(errno);
    close(fd);
    return LockOutcome::kFailed;
  }
  fd_ = fd;
  return LockOutcome::kAcquired;
}

LockOutcome Lock::Acquire(const std::string& path, int64_t wait_ms,
                          const volatile std::sig_atomic_t* stop,
                          const std::function<void(int)>& on_wait,
                          int* holder_pid, std::string* err) {
  const int64_t deadline = NowMs() + std::min(wait_ms, int64_t{1} << 50);
  bool told = false;
  for (;;) {
    LockOutcome r = TryAcquire(path, holder_pid, err);
    if (r != LockOutcome::kBusy || wait_ms <= 0) return r;
    if (!told && on_wait) on_wait(*holder_pid);
    told = true;
    // Sleep 50 ms in 10 ms slices, watching for a stop request.
    for (int slice = 0; slice < 5; ++slice) {
      if (stop != nullptr && *stop) {
        *err = "interrupted while waiting for the lock on " + path +
               " held by bgctl pid " + Who(*holder_pid);
        return LockOutcome::kCancelled;
      }
      // '>': NowMs() truncates, so '>=' could give up up to 1 ms early.
      if (NowMs() > deadline) {
        *err += "; waited " + FormatDuration(wait_ms);
        return LockOutcome::kBusy;
      }
      SleepMs(10);
    }
  }
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
