// libFuzzer target: bgctl.yaml text through ParseConfig (yaml-cpp and the
// bgctl schema). Any input must give a config or an error naming the file,
// never a crash, an exception out of ParseConfig, or unbounded memory (the
// runner sets -rss_limit_mb).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bgctl::Config config;
  std::string err;
  if (!bgctl::ParseConfig(text, "/fuzz/bgctl.yaml", &config, &err) &&
      err.rfind("/fuzz/bgctl.yaml", 0) != 0)
    std::abort();  // every error names the file
  return 0;
}
