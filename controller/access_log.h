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

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_ACCESS_LOG_H_
