// libFuzzer target: `nginx -T` output through SplitNginxDump,
// EffectiveNginxConf (the lexer, includes expanded), WalkNginxConf and
// ParseListen: what `bgctl init` and `bgctl validate` read from a user's
// nginx. Any input must give directives or an error naming a file and a
// line, never a crash, a stack overflow (blocks nest at most
// kMaxNginxBlockDepth deep) or unbounded memory (the runner sets
// -rss_limit_mb).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/nginx_conf.h"

namespace {

// Every directive has a file of the dump and a line in it (its name may be
// a quoted ""); no chain of blocks is deeper than the bound allows
// (includes add levels of their own, at most 32).
void CheckTree(const std::vector<bgctl::NginxDirective>& root,
               const std::vector<bgctl::NginxFile>& files) {
  bgctl::WalkNginxConf(
      root, [&](const bgctl::NginxDirective& d,
                const std::vector<const bgctl::NginxDirective*>& parents) {
        if (d.line < 1 ||
            parents.size() >
                static_cast<size_t>(bgctl::kMaxNginxBlockDepth) * 33)
          std::abort();
        bool known = false;
        for (const bgctl::NginxFile& f : files)
          known = known || f.path == d.file;
        if (!known) std::abort();
        bgctl::NginxListen listen;
        if (d.name == "listen" && bgctl::ParseListen(d, &listen) &&
            (listen.port < 0 || listen.port > 65535))
          std::abort();
      });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The seeds start with a file header; a dump without one is refused
  // before parsing, so give every input one to reach the lexer.
  const std::string text =
      "# configuration file /etc/nginx/nginx.conf:\n" +
      std::string(reinterpret_cast<const char*>(data), size);
  std::vector<bgctl::NginxFile> files;
  std::string err;
  if (!bgctl::SplitNginxDump(text, &files, &err)) std::abort();
  std::vector<bgctl::NginxDirective> root;
  // A lower bound than bgctl's keeps each run small; the bound is the same
  // code.
  if (!bgctl::EffectiveNginxConf(files, &root, &err, 20000)) {
    // "FILE:LINE: problem", FILE one of the dump's files.
    bool named = false;
    for (const bgctl::NginxFile& f : files)
      named = named || err.rfind(f.path + ":", 0) == 0;
    if (!named) std::abort();
    return 0;
  }
  CheckTree(root, files);
  return 0;
}
