#include "tests/support/e2e.h"

#include <chrono>
#include <thread>

#include "tests/support/temp_dir.h"

namespace bgctl::testing {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  for (int64_t end = NowMs() + timeout_ms; NowMs() < end; SleepMs(10))
    if (pred()) return true;
  return pred();
}

nlohmann::json Status(Service& svc) {
  CommandResult r = svc.Bgctl({"--output", "json", "status"});
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  return r.exit_code == 0 && j.is_object() ? j : nlohmann::json::object();
}

std::string VersionOf(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  return j.is_object() && j.contains("version") && j["version"].is_string()
             ? j["version"].get<std::string>()
             : "";
}

bool ProcessGone(int pid) {
  std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || stat.compare(paren + 2, 1, "Z") == 0;
}

bool StartWithV1(Service* svc, const ServiceOptions& options,
                 std::string* err) {
  if (!svc->Start(options, err)) return false;
  CommandResult r = svc->Bgctl({"deploy", "--version", "v1"});
  *err = r.out + r.err;
  return r.exit_code == 0;
}

LoadOptions SteadyLoad(int port, double rate) {
  LoadOptions o;
  o.port = port;
  o.threads = 6;
  o.duration_ms = 60000;
  o.rate = rate;
  o.keep_alive_share = 0.5;
  o.post_share = 0.3;
  return o;
}

std::string Failures(const LoadReport& report) {
  std::string s;
  for (const std::string& f : report.failures) s += f + "\n";
  return s;
}

}  // namespace bgctl::testing
