// libFuzzer target: LogFollower over a file that the input appends to,
// truncates and rotates between polls; every delivered line goes through
// ParseLogLine. Checks the follower's promises: no line holds '\n', none is
// longer than kMaxLineBytes, and what is delivered never exceeds what was
// written.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/access_log.h"
#include "controller/log_follower.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

// One folder per fuzzing process, made once.
const std::string& Dir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/bgctl-fuzz-follower-XXXXXX";
    Check(mkdtemp(tmpl) != nullptr);
    return std::string(tmpl);
  }();
  return dir;
}

void Append(const std::string& path, const uint8_t* data, size_t n) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  Check(fd >= 0);
  Check(write(fd, data, n) == static_cast<ssize_t>(n));
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Dir() + "/access.log";
  const std::string old = Dir() + "/access.log.1";
  unlink(path.c_str());
  unlink(old.c_str());
  bgctl::LogFollower follower;
  std::string err;
  Check(follower.Open(path, size > 0 && data[0] & 1, &err));
  int64_t written = 0, delivered = 0;
  auto on_line = [&](std::string_view line) {
    Check(line.find('\n') == std::string_view::npos);
    Check(line.size() <= bgctl::LogFollower::kMaxLineBytes);
    delivered += static_cast<int64_t>(line.size()) + 1;
    bgctl::LogRecord r;
    bgctl::ParseLogLine(line, &r);
  };
  // Each step: an op byte, a length byte, then that many bytes of text.
  size_t i = size > 0 ? 1 : 0;
  while (i + 2 <= size) {
    const uint8_t op = data[i], len = data[i + 1];
    i += 2;
    const size_t n = std::min<size_t>(len, size - i);
    switch (op % 8) {
      case 0:  // copytruncate
        Check(truncate(path.c_str(), 0) == 0 || errno == ENOENT);
        break;
      case 1:  // rotation
        rename(path.c_str(), old.c_str());
        break;
      case 2:  // a long line, past the follower's limit
        for (int k = 0; k < 3; ++k) {
          std::string big(bgctl::LogFollower::kMaxLineBytes / 2, 'x');
          Append(path, reinterpret_cast<const uint8_t*>(big.data()),
                 big.size());
          written += static_cast<int64_t>(big.size());
        }
        break;
      default:
        Append(path, data + i, n);
        written += static_cast<int64_t>(n);
        i += n;
    }
    Check(follower.Poll(on_line, &err));
  }
  Check(follower.Poll(on_line, &err));
  Check(delivered <= written + follower.lines());
  return 0;
}
