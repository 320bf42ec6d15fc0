// LogFollower: follows nginx's access log by path across appends, rotation
// and truncation, like `tail -F`, with one fixed buffer.
#ifndef BGCTL_CONTROLLER_LOG_FOLLOWER_H_
#define BGCTL_CONTROLLER_LOG_FOLLOWER_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace bgctl {

// Follows a growing log file by path.
//
// Poll() reads the bytes appended since the last poll with large reads into
// one fixed buffer and hands each complete line (without "\n" or a trailing
// "\r"; empty lines are skipped) to the callback; the string_view is valid
// only during the call. A partial last line is kept until its newline
// arrives. It survives
//  - rotation (the path now names another file): the old file is read to
//    its end first, then the new one from its start; an unfinished last line
//    of the old file is dropped and counted as malformed, and whatever is
//    written to the old file after the switch is not read;
//  - truncation (the file is shorter than what was read, as `copytruncate`
//    does): reading restarts at 0. A file truncated and regrown past the old
//    offset between two polls cannot be told from an appended one;
//  - a missing file: not an error, the file is read from its start once it
//    appears.
// A line longer than kMaxLineBytes is dropped (counted in long_lines() and
// malformed()) without buffering more than kMaxLineBytes of it.
class LogFollower {
 public:
  static constexpr size_t kBufferBytes = 1 << 20;
  static constexpr size_t kMaxLineBytes = 64 << 10;
  // One Poll() reads at most this much; the rest waits for the next poll.
  static constexpr int64_t kMaxBytesPerPoll = int64_t{64} << 20;

  LogFollower();
  ~LogFollower();  // closes the file
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // Starts following `path`. With `from_end`, content already in the file is
  // skipped (including the rest of an unfinished last line); otherwise it is
  // read from the start. A missing file (or folder) is fine. Returns false
  // with *err, e.g. "cannot open /x/access.log: Permission denied" or
  // "/x is not a regular file", when the file exists but cannot be read.
  bool Open(const std::string& path, bool from_end, std::string* err);

  // Delivers the complete lines appended since the last call (Open first).
  // Returns false with *err on a read error (the follower stays usable).
  bool Poll(const std::function<void(std::string_view line)>& on_line,
            std::string* err);

  // For the consumer: counts lines it could not parse into malformed().
  void CountMalformed(int64_t n = 1) { malformed_ += n; }

  int64_t lines() const { return lines_; }  // delivered lines
  int64_t bytes() const { return bytes_; }  // bytes read, all files
  int64_t long_lines() const { return long_lines_; }
  // long_lines(), unfinished lines dropped at rotation or truncation, and
  // whatever CountMalformed() added.
  int64_t malformed() const { return malformed_; }
  int64_t rotations() const { return rotations_; }
  int64_t truncations() const { return truncations_; }
  // True when the last Poll() reached the end of the file (false when it
  // stopped at kMaxBytesPerPoll, or the file does not exist yet).
  bool caught_up() const { return caught_up_; }

 private:
  using LineFn = std::function<void(std::string_view)>;
  // Opens path_; *found is false (and true is returned) when it is missing.
  bool OpenFile(bool at_end, bool* found, std::string* err);
  void CloseFile();
  // Reads from offset_ until the end of the file or *budget is used up.
  bool ReadToEnd(const LineFn& on_line, int64_t* budget, std::string* err);
  // Splits buf_[0, len) into lines; keeps the unfinished rest at buf_[0].
  void Consume(size_t len, const LineFn& on_line);
  // Forgets a partial line (rotation, truncation); counts it as malformed.
  void DropPartial();

  std::string path_;
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  int64_t offset_ = 0;
  std::unique_ptr<char[]> buf_;
  size_t pending_ = 0;        // bytes of an unfinished line at buf_[0]
  bool skipping_ = false;     // dropping bytes up to the next '\n'
  bool skip_counts_ = false;  // the line being skipped counts as malformed
  bool caught_up_ = false;
  int64_t lines_ = 0;
  int64_t bytes_ = 0;
  int64_t long_lines_ = 0;
  int64_t malformed_ = 0;
  int64_t rotations_ = 0;
  int64_t truncations_ = 0;
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_LOG_FOLLOWER_H_
