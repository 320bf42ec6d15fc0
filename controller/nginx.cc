#include "controller/nginx.h"

#include <algorithm>

namespace bgctl {

namespace {

std::string Trim(const std::string& s) {
  const char* space = " \t\r\n";
  size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(space);
  return s.substr(begin, end - begin + 1);
}

// Parses a non-empty string of decimal digits that fits in 64 bits.
bool ParseGeneration(const std::string& text, uint64_t* value) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *value = v;
  return true;
}

std::string Header(uint64_t generation) {
  return "# written by bgctl, generation " + std::to_string(generation) +
         "; do not edit\n";
}

std::string GenerationMap(uint64_t generation) {
  return "map $host $bgctl_generation {\n    default \"" +
         std::to_string(generation) + "\";\n}\n";
}

bool CheckServers(const std::vector<UpstreamServer>& servers,
                  std::string* err) {
  if (servers.empty()) {
    *err = "invalid upstream: no servers";
    return false;
  }
  for (const UpstreamServer& s : servers) {
    if (s.port < 1 || s.port > 65535) {
      *err = "invalid upstream: port " + std::to_string(s.port) +
             " (must be 1-65535)";
      return false;
    }
    if (s.weight < 1 || s.weight > 100) {
      *err = "invalid upstream: weight " + std::to_string(s.weight) +
             " for port " + std::to_string(s.port) + " (must be 1-100)";
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<UpstreamServer> ServersForSplit(int stable_port, int canary_port,
                                            int canary_weight) {
  if (stable_port == 0 || canary_weight >= 100) return {{canary_port, 100}};
  if (canary_weight <= 0) return {{stable_port, 100}};
  return {{stable_port, 100 - canary_weight}, {canary_port, canary_weight}};
}

std::string RenderUpstream(const std::string& upstream_name,
                           const std::vector<UpstreamServer>& servers,
                           uint64_t generation) {
  std::string text = Header(generation);
  text += "upstream " + upstream_name + " {\n";
  text += "    zone " + upstream_name + " 64k;\n";
  for (const UpstreamServer& s : servers) {
    text += "    server 127.0.0.1:" + std::to_string(s.port) +
            " weight=" + std::to_string(s.weight) + ";\n";
  }
  text += "    keepalive 32;\n}\n";
  text += GenerationMap(generation);
  return text;
}

std::string RenderPlaceholderUpstream(const std::string& upstream_name,
                                      int port) {
  std::string text = Header(0);
  text += "upstream " + upstream_name + " {\n";
  text += "    zone " + upstream_name + " 64k;\n";
  text += "    server 127.0.0.1:" + std::to_string(port) + " down;\n";
  text += "    keepalive 32;\n}\n";
  text += GenerationMap(0);
  return text;
}

Nginx::Nginx(const NginxConfig& cfg, const std::string& workdir, Env env)
    : cfg_(cfg), workdir_(workdir), env_(env) {}

bool Nginx::Apply(const std::vector<UpstreamServer>& servers,
                  uint64_t generation, std::string* err, int64_t* elapsed_ms) {
  int64_t start = env_.clock->NowMs();
  bool ok = Install(servers, generation, err) && Confirm(generation, err);
  if (elapsed_ms != nullptr) *elapsed_ms = env_.clock->NowMs() - start;
  return ok;
}

bool Nginx::Install(const std::vector<UpstreamServer>& servers,
                    uint64_t generation, std::string* err) {
  if (!CheckServers(servers, err)) return false;
  const std::string& path = cfg_.upstream_file;
  std::string previous;
  bool had_previous = env_.fs->Exists(path);
  if (had_previous && !env_.fs->ReadFile(path, &previous, err)) return false;

  std::string text = RenderUpstream(cfg_.upstream_name, servers, generation);
  if (!env_.fs->WriteFileAtomic(path, text, err)) return false;
  if (!RunChecked(cfg_.test_command, "nginx config test", err) ||
      !RunChecked(cfg_.reload_command, "nginx reload", err)) {
    Restore(had_previous, previous, err);
    return false;
  }
  return true;
}

bool Nginx::Test(std::string* err) {
  return RunChecked(cfg_.test_command, "nginx config test", err);
}

bool Nginx::ProbeGeneration(uint64_t* generation, std::string* err) {
  std::string answer;
  if (ProbeOnce(2000, generation, &answer)) return true;
  *err = "nginx probe " + cfg_.probe_url + ": " + answer;
  return false;
}

bool Nginx::RunChecked(const std::vector<std::string>& argv,
                       const std::string& what, std::string* err) {
  if (argv.empty()) {
    *err = what + " failed: no command configured";
    return false;
  }
  RunResult result;
  std::string run_err;
  if (!env_.processes->Run(argv, workdir_, command_timeout_ms_, &result,
                           &run_err)) {
    *err = what + " failed: " + run_err;
    return false;
  }
  std::string output = Trim(result.output);
  if (result.timed_out) {
    *err = what + " failed: timed out after " +
           std::to_string(command_timeout_ms_) + "ms" +
           (output.empty() ? "" : ": " + output);
    return false;
  }
  if (result.exit_code != 0) {
    *err = what + " failed: " +
           (output.empty() ? "exit code " + std::to_string(result.exit_code)
                           : output);
    return false;
  }
  return true;
}

void Nginx::Restore(bool had_previous, const std::string& previous,
                    std::string* err) {
  std::string restore_err;
  bool ok = had_previous ? env_.fs->WriteFileAtomic(cfg_.upstream_file,
                                                    previous, &restore_err)
                         : env_.fs->Remove(cfg_.upstream_file, &restore_err);
  if (!ok) {
    *err += "; restoring " + cfg_.upstream_file + " failed too: " + restore_err;
  }
}

bool Nginx::ProbeOnce(int64_t timeout_ms, uint64_t* generation,
                      std::string* answer) {
  HttpResponse response;
  std::string probe_err;
  if (!env_.http->Get(cfg_.probe_host, cfg_.probe_port, cfg_.probe_path,
                      timeout_ms, &response, &probe_err)) {
    *answer = "probe failed: " + probe_err;
    return false;
  }
  if (response.status != 200) {
    *answer = "probe answered HTTP " + std::to_string(response.status);
    return false;
  }
  std::string body = Trim(response.body);
  if (!ParseGeneration(body, generation)) {
    if (body.size() > 40) body = body.substr(0, 40) + "...";
    *answer = "probe answered \"" + body + "\", not a generation number";
    return false;
  }
  return true;
}

bool Nginx::Confirm(uint64_t generation, std::string* err) {
  int64_t start = env_.clock->NowMs();
  int64_t streak_start = -1;  // first answer of the current run of new ones
  std::string answer;
  int64_t waited = 0;
  for (;;) {
    uint64_t got = 0;
    bool ok =
        ProbeOnce(std::clamp<int64_t>(confirm_deadline_ms_ - waited, 1, 1000),
                  &got, &answer);
    int64_t now = env_.clock->NowMs();
    if (ok && got == generation) {
      if (streak_start < 0) streak_start = now;
      if (now - streak_start >= settle_ms_) return true;
    } else {
      if (ok) answer = "probe answered generation " + std::to_string(got);
      streak_start = -1;
    }
    waited = now - start;
    if (waited >= confirm_deadline_ms_) break;
    env_.clock->SleepMs(
        std::min(poll_interval_ms_, confirm_deadline_ms_ - waited));
    waited = env_.clock->NowMs() - start;
  }
  if (streak_start >= 0) {
    answer = "probe answered generation " + std::to_string(generation) +
             " for only " + std::to_string(start + waited - streak_start) +
             "ms of the " + std::to_string(settle_ms_) + "ms settle time";
  }
  *err = "nginx reload not confirmed: " + answer + ", expected " +
         std::to_string(generation) + " after " + std::to_string(waited) + "ms";
  return false;
}

}  // namespace bgctl
