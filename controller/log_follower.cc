#include "controller/log_follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bgctl {

LogFollower::LogFollower() = default;

LogFollower::~LogFollower() { CloseFile(); }

void LogFollower::CloseFile() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool LogFollower::Open(const std::string& path, bool from_end,
                       std::string* err) {
  CloseFile();
  path_ = path;
  // Not zeroed: pages count in RSS only once a read fills them.
  if (!buf_) buf_.reset(new char[kBufferBytes]);
  pending_ = 0;
  skipping_ = false;
  skip_counts_ = false;
  caught_up_ = false;
  bool found;
  return OpenFile(from_end, &found, err);
}

bool LogFollower::OpenFile(bool at_end, bool* found, std::string* err) {
  *found = false;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return true;
    *err = "cannot open " + path_ + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *err = path_ + " is not a regular file";
    return false;
  }
  *found = true;
  fd_ = fd;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  offset_ = 0;
  if (at_end && st.st_size > 0) {
    offset_ = st.st_size;
    // Starting inside an unfinished line: skip its rest, silently.
    char last;
    if (::pread(fd_, &last, 1, offset_ - 1) == 1 && last != '\n') {
      skipping_ = true;
      skip_counts_ = false;
    }
  }
  return true;
}

void LogFollower::DropPartial() {
  if (pending_ > 0 || (skipping_ && skip_counts_)) malformed_++;
  pending_ = 0;
  skipping_ = false;
}

bool LogFollower::Poll(const LineFn& on_line, std::string* err) {
  caught_up_ = false;
  if (!buf_) {
    *err = "LogFollower::Poll called before Open";
    return false;
  }
  int64_t budget = kMaxBytesPerPoll;
  bool found;
  if (fd_ < 0) {
    if (!OpenFile(false, &found, err)) return false;
    if (!found) return true;  // not there yet
  }
  struct stat st;
  if (::fstat(fd_, &st) == 0 && st.st_size < offset_) {  // copytruncate
    truncations_++;
    DropPartial();
    offset_ = 0;
  }
  if (!ReadToEnd(on_line, &budget, err)) return false;
  if (!caught_up_) return true;
  // At the end of this file: has the path moved on to another file?
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return true;  // not yet recreated
    *err = "cannot stat " + path_ + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_dev == dev_ && st.st_ino == ino_) return true;
  rotations_++;
  DropPartial();
  CloseFile();
  caught_up_ = false;
  if (!OpenFile(false, &found, err)) return false;
  if (!found) return true;
  return ReadToEnd(on_line, &budget, err);
}

bool LogFollower::ReadToEnd(const LineFn& on_line, int64_t* budget,
                            std::string* err) {
  caught_up_ = false;
  while (*budget > 0) {
    const size_t room = kBufferBytes - pending_;
    const ssize_t n = ::pread(fd_, buf_.get() + pending_, room, offset_);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = "cannot read " + path_ + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) {
      caught_up_ = true;
      return true;
    }
    offset_ += n;
    bytes_ += n;
    *budget -= n;
    Consume(pending_ + static_cast<size_t>(n), on_line);
  }
  return true;
}

void LogFollower::Consume(size_t len, const LineFn& on_line) {
  const char* p = buf_.get();
  const char* const end = p + len;
  if (skipping_) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', len));
    if (nl == nullptr) {  // still inside the skipped line
      pending_ = 0;
      return;
    }
    if (skip_counts_) {
      long_lines_++;
      malformed_++;
    }
    skipping_ = false;
    p = nl + 1;
  }
  for (;;) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (nl == nullptr) break;
    size_t n = nl - p;
    if (n > kMaxLineBytes) {
      long_lines_++;
      malformed_++;
    } else {
      if (n > 0 && p[n - 1] == '\r') --n;
      if (n > 0) {
        lines_++;
        on_line(std::string_view(p, n));
      }
    }
    p = nl + 1;
  }
  const size_t rest = end - p;
  if (rest > kMaxLineBytes) {
    skipping_ = true;
    skip_counts_ = true;
    pending_ = 0;
    return;
  }
  std::memmove(buf_.get(), p, rest);
  pending_ = rest;
}

}  // namespace bgctl
