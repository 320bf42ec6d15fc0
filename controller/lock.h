// The service's lock (state_dir/lock): one bgctl operation at a time.
// flock(2) on the file, so the kernel releases it when the holder dies, even
// by SIGKILL; the file holds the holder's pid so a busy lock can be named.
#ifndef BGCTL_CONTROLLER_LOCK_H_
#define BGCTL_CONTROLLER_LOCK_H_

#include <string>

namespace bgctl {

class Lock {
 public:
  Lock() = default;
  ~Lock();  // releases the lock if held
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Takes the lock on `path` (created with mode 0600 if missing) without
  // waiting. On success writes our pid into the file and returns true.
  // When another open file description holds it, returns false with
  // *holder_pid set from the file (0 if unknown) and *err
  //   another bgctl (pid N) holds the lock on PATH
  // Other failures (cannot open) return false with *holder_pid 0 and *err
  // "cannot open lock file PATH: REASON". The descriptor is close-on-exec,
  // so processes bgctl starts never inherit the lock.
  // Precondition: this Lock does not hold a lock yet.
  bool TryAcquire(const std::string& path, int* holder_pid, std::string* err);

  // Empties the file and releases the lock; no-op when not held.
  void Release();

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LOCK_H_
