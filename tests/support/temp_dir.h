// A fresh temporary folder per test, and small file helpers for tests.
#ifndef BGCTL_TESTS_SUPPORT_TEMP_DIR_H_
#define BGCTL_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace bgctl::testing {

// Creates /tmp/bgctl-test-XXXXXX (mkdtemp, mode 0700) on construction and
// removes it with everything inside on destruction. If creation fails,
// path() is empty and ok() is false. Not copyable.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  // Absolute path of the folder, no trailing slash.
  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Path(const std::string& name) const;

 private:
  std::string path_;
};

// The whole file, or "" if it cannot be read.
std::string ReadWholeFile(const std::string& path);

// Writes `contents` to `path` (truncating). Returns false on any error.
bool WriteWholeFile(const std::string& path, const std::string& contents);

// Polls (every 10 ms) until the file contains `needle`. Returns false if it
// did not within timeout_ms.
bool WaitForFileContains(const std::string& path, const std::string& needle,
                         int timeout_ms);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_TEMP_DIR_H_
