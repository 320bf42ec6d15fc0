#include "controller/rollout_log.h"

namespace bgctl {

RolloutLog::Status RolloutLog::Open(const std::string& path, int64_t now_ms) {
  std::string err;
  const bool ok = follower_.Open(path, /*from_end=*/true, &err);
  return Update(ok, err, now_ms);
}

RolloutLog::Status RolloutLog::Poll(
    const std::function<void(std::string_view)>& on_line, int64_t now_ms) {
  std::string err;
  const bool ok = follower_.Poll(on_line, &err);
  return Update(ok, err, now_ms);
}

RolloutLog::Status RolloutLog::Update(bool ok, const std::string& err,
                                      int64_t now_ms) {
  if (ok) {
    if (since_ms_ < 0) return Status::kReadable;
    outage_ms_ = now_ms - since_ms_;
    since_ms_ = -1;
    error_.clear();
    return Status::kReadableAgain;
  }
  error_ = err;
  if (since_ms_ >= 0) return Status::kUnreadable;
  since_ms_ = now_ms;
  return Status::kBecameUnreadable;
}

}  // namespace bgctl
