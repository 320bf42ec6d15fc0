// libFuzzer target: upstream-file text through ParseUpstreamFile (bgctl
// reads its own file back to see what nginx was given). A file that parses
// must render again (RenderUpstream) and parse back to the same contents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/upstream_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bgctl::UpstreamFileContents contents;
  std::string err;
  if (!bgctl::ParseUpstreamFile(text, "svc", &contents, &err)) {
    if (err.empty()) std::abort();
    return 0;
  }
  if (contents.servers.empty() || !bgctl::CheckServers(contents.servers, &err))
    return 0;
  const std::string again =
      bgctl::RenderUpstream("svc", contents.servers, contents.generation);
  bgctl::UpstreamFileContents back;
  if (!bgctl::ParseUpstreamFile(again, "svc", &back, &err) ||
      back.generation != contents.generation ||
      back.servers.size() != contents.servers.size())
    std::abort();
  for (size_t i = 0; i < back.servers.size(); ++i) {
    const bgctl::UpstreamServer &a = contents.servers[i], &b = back.servers[i];
    if (a.host != b.host || a.port != b.port || a.weight != b.weight)
      std::abort();
  }
  return 0;
}
