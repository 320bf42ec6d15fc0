// libFuzzer target: one access-log line through ParseLogLine and the
// upstream-list helpers. Checks that a parsed record's views lie inside the
// line and that the numbers are in the ranges access_log.h promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/access_log.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(std::string_view part, std::string_view line) {
  return part.empty() ||
         (part.data() >= line.data() &&
          part.data() + part.size() <= line.data() + line.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  bgctl::LogRecord r;
  if (bgctl::ParseLogLine(line, &r)) {
    Check(r.status >= 0 && r.status <= 999);
    Check(r.request_time_s >= 0);
    Check(r.bytes_sent >= 0);
    for (std::string_view v :
         {r.method, r.uri, r.upstream_addr, r.upstream_status,
          r.upstream_response_time, r.time})
      Check(Inside(v, line));
    bgctl::JsonUnescape(r.uri);
    const int port = bgctl::LastUpstreamPort(r.upstream_addr);
    Check(port >= 0 && port <= 65535);
    const int status = bgctl::LastUpstreamStatus(r.upstream_status);
    Check(status >= 0 && status <= 999);
  }
  // The list helpers on raw input too.
  bgctl::UpstreamList list(line);
  std::string_view entry;
  for (int i = 0; i < 1000 && list.Next(&entry); ++i) {
    Check(!entry.empty() && Inside(entry, line));
    bgctl::UpstreamPort(entry);
  }
  Check(Inside(bgctl::LastUpstreamEntry(line), line));
  bgctl::JsonUnescape(line);
  return 0;
}
