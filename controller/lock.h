// The service's lock (state_dir/lock): one bgctl operation at a time.
// flock(2) on the file, so the kernel releases it when the holder dies, even
// by SIGKILL; the file holds the holder's pid so a busy lock can be named.
#ifndef BGCTL_CONTROLLER_LOCK_H_
#define BGCTL_CONTROLLER_LOCK_H_

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>

namespace bgctl {

enum class LockOutcome {
  kAcquired,
  kBusy,       // another open file description holds it (exit 4)
  kFailed,     // the lock file cannot be opened, locked or written (exit 1)
  kCancelled,  // Acquire: a stop was requested while waiting (exit 1)
};

class Lock {
 public:
  Lock() = default;
  ~Lock();  // releases the lock if held
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Takes the lock on `path` (created with mode 0600 if missing) without
  // waiting. On success writes our pid into the file: kAcquired.
  // When another open file description holds it: kBusy, *holder_pid set
  // from the file (0 if unknown) and *err
  //   another bgctl (pid N) holds the lock on PATH
  // Anything else is kFailed with *holder_pid 0 and *err naming the file and
  // the reason: "cannot open lock file PATH: REASON" (a symbolic link at
  // PATH is never followed, and only a regular file is used), "cannot lock
  // PATH: REASON", "cannot write lock file PATH: REASON" (a full disk). The
  // descriptor is close-on-exec, so processes bgctl starts never inherit
  // the lock. Precondition: this Lock does not hold a lock yet.
  LockOutcome TryAcquire(const std::string& path, int* holder_pid,
                         std::string* err);

  // TryAcquire, and while the lock is busy, tries again every 50 ms for up
  // to wait_ms (0: once). `on_wait(holder_pid)` is called once, when the
  // lock is first found busy and wait_ms > 0. Returns kBusy when the wait
  // runs out (*err as TryAcquire's, plus "; waited DURATION"), kCancelled
  // within 10 ms of `*stop` becoming non-zero (*err "interrupted while
  // waiting for the lock on PATH held by bgctl pid N"), kFailed at once on
  // any other error. `stop` may be null.
  LockOutcome Acquire(const std::string& path, int64_t wait_ms,
                      const volatile std::sig_atomic_t* stop,
                      const std::function<void(int holder_pid)>& on_wait,
                      int* holder_pid, std::string* err);

  // Empties the file and releases the lock; no-op when not held.
  void Release();

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LOCK_H_
