#include "controller/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace bgctl {

namespace {

struct Spec {
  bool armed = false;
  std::string name;  // "*" for any
  long target = 1;
  long hits = 0;
};

Spec Parse() {
  Spec s;
  const char* v = std::getenv("BGCTL_FAILPOINT");
  if (v == nullptr || *v == '\0') return s;
  std::string text = v;
  size_t colon = text.rfind(':');
  s.name = text.substr(0, colon);
  if (colon != std::string::npos) {
    char* end = nullptr;
    s.target = std::strtol(text.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || s.target < 1) return Spec();
  }
  s.armed = !s.name.empty();
  return s;
}

std::function<void(const char*)>& Hook() {
  static auto* hook = new std::function<void(const char*)>;
  return *hook;
}

}  // namespace

void SetFailpointHookForTesting(std::function<void(const char* name)> hook) {
  Hook() = std::move(hook);
}

void Failpoint(const char* name) {
  if (Hook()) return Hook()(name);
  static Spec spec = Parse();
  if (!spec.armed || (spec.name != "*" && spec.name != name)) return;
  if (++spec.hits != spec.target) return;
  std::string line = "bgctl: failpoint " + std::string(name) + " (hit " +
                     std::to_string(spec.hits) + "): killed\n";
  ssize_t ignored = write(2, line.data(), line.size());
  (void)ignored;
  kill(getpid(), SIGKILL);
  pause();
}

}  // namespace bgctl
