// The access log as a rollout reads it: a LogFollower that also knows
// whether, and since when, the log cannot be read, so the rollout can say so
// once when it starts and once when it ends, and fail a step that could see
// nothing for too long (issue 16: an unreadable log must never let a step
// pass "no data" silently).
#ifndef BGCTL_CONTROLLER_ROLLOUT_LOG_H_
#define BGCTL_CONTROLLER_ROLLOUT_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "controller/log_follower.h"

namespace bgctl {

class RolloutLog {
 public:
  enum class Status {
    kReadable,          // read (or nothing new, or no file yet)
    kUnreadable,        // the read failed, as it did before
    kBecameUnreadable,  // the read failed, the first time in a row
    kReadableAgain,     // read, after reads that failed
  };

  // Starts following `path` from its end (LogFollower::Open).
  Status Open(const std::string& path, int64_t now_ms);
  // Hands the new complete lines to `on_line` (LogFollower::Poll).
  Status Poll(const std::function<void(std::string_view)>& on_line,
              int64_t now_ms);

  // The last read error ("" while readable).
  const std::string& error() const { return error_; }
  // When the reads started failing; -1 while readable.
  int64_t unreadable_since_ms() const { return since_ms_; }
  // How long the log was unreadable when it became readable again
  // (kReadableAgain), in ms.
  int64_t last_outage_ms() const { return outage_ms_; }

 private:
  Status Update(bool ok, const std::string& err, int64_t now_ms);

  LogFollower follower_;
  std::string error_;
  int64_t since_ms_ = -1;
  int64_t outage_ms_ = 0;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ROLLOUT_LOG_H_
