// Reading nginx's access log in bgctl's format (nginx/, log_format bgctl
// escape=json): one JSON object per line, e.g.
//   {"msec":1763934000.123,"pid":4242,"method":"GET","uri":"/","status":200,
//    "request_time":0.002,"upstream_addr":"127.0.0.1:8082",
//    "upstream_status":"200","upstream_response_time":"0.002",
//    "bytes_sent":215,"time":"2026-11-23T21:40:00+00:00"}
//
// ParseLogLine is a hand-written scanner (no JSON library, no allocation):
// it runs at several million lines per second on one core. Lines in the
// shipped key order take a fast path; any other order takes the general one.
// LogFollower follows the file across appends, rotation and truncation, like
// `tail -F`.
#ifndef BGCTL_CONTROLLER_ACCESS_LOG_H_
#define BGCTL_CONTROLLER_ACCESS_LOG_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace bgctl {

// One access-log line. The string_views point into the line passed to
// ParseLogLine and hold the JSON string contents as written, escapes not
// decoded (use JsonUnescape for that); they are valid while the line is.
struct LogRecord {
  double msec = 0;  // request end, seconds since the epoch
  int64_t pid = 0;  // nginx worker
  std::string_view method;
  std::string_view uri;
  int status = 0;                    // the status nginx sent to the client
  double request_time_s = 0;         // seconds, millisecond resolution
  std::string_view upstream_addr;    // "-" when no upstream was reached
  std::string_view upstream_status;  // e.g. "502, 200"; empty when absent
  std::string_view upstream_response_time;
  int64_t bytes_sent = 0;
  std::string_view time;  // $time_iso8601
};

// Parses one line (without its newline). Keys may come in any order,
// separated by any JSON whitespace; unknown keys (of any JSON type, nested
// ones included) are skipped. "status" (an integer 0..999), "request_time"
// (a number >= 0) and "upstream_addr" (a string) are required; the other
// known keys are optional but must have their type when present (numbers
// for msec, pid, bytes_sent; strings for the rest). Returns false, leaving
// *out unspecified, for anything else: not one JSON object, a bad value, an
// unterminated string, or trailing characters other than whitespace.
bool ParseLogLine(std::string_view line, LogRecord* out);

// Decodes the JSON escapes of a string's contents (\" \\ \/ \b \f \n \r \t
// and \uXXXX, written out as UTF-8). Malformed escapes are copied as is.
std::string JsonUnescape(std::string_view raw);

// Walks the entries of an $upstream_addr or $upstream_status list. nginx
// separates retries within one upstream group with ", " and the groups of
// an internal redirect with " : "; both count as separators here, so
// "127.0.0.1:8082, 127.0.0.1:8081 : 127.0.0.1:8083" has three entries.
// Entries are trimmed of spaces; an empty list has no entries.
class UpstreamList {
 public:
  explicit UpstreamList(std::string_view list) : rest_(list) {}
  // Stores the next entry in *entry; false when there are no more.
  bool Next(std::string_view* entry);

 private:
  std::string_view rest_;
};

// The last entry of such a list (a view into `list`), empty if it has none.
// When it is not the whole list, there were earlier entries (retries).
std::string_view LastUpstreamEntry(std::string_view list);

// The port of one upstream address entry ("127.0.0.1:8082", "[::1]:8082"):
// the digits after the last ':', 1..65535. 0 for "-", names such as an
// upstream group's ("no live upstreams"), unix sockets and anything else.
int UpstreamPort(std::string_view entry);

// The port of the last entry of an $upstream_addr list (0 as above).
int LastUpstreamPort(std::string_view upstream_addr);

// The last entry of an $upstream_status list as a status code, or 0 when
// the list is empty or its last entry is not a number ("-").
int LastUpstreamStatus(std::string_view upstream_status);

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

#endif  // BGCTL_CONTROLLER_ACCESS_LOG_H_
