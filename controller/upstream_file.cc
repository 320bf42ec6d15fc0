#include "controller/upstream_file.h"

#include <arpa/inet.h>

#include <algorithm>
#include <sstream>

#include "controller/text.h"

namespace bgctl {

namespace {

const char kHeaderPrefix[] = "# written by bgctl, generation ";

std::string Header(uint64_t generation) {
  return kHeaderPrefix + std::to_string(generation) + "; do not edit\n";
}

std::string GenerationMap(uint64_t generation) {
  return "map $host $bgctl_generation {\n    default \"" +
         std::to_string(generation) + "\";\n}\n";
}

bool NumericHost(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// One "server HOST:PORT weight=W;" line (after "server "), or a `down` one.
bool ParseServerLine(const std::string& rest, UpstreamServer* s, bool* down) {
  std::istringstream in(rest);
  std::string address, word;
  in >> address;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  s->host = address.substr(0, colon);
  if (s->host.size() > 2 && s->host.front() == '[' && s->host.back() == ']')
    s->host = s->host.substr(1, s->host.size() - 2);
  uint64_t port = 0;
  if (!ParseDecimal(address.substr(colon + 1), &port) || port > 65535)
    return false;
  s->port = static_cast<int>(port);
  s->weight = 1;  // nginx's default
  *down = false;
  while (in >> word) {
    if (!word.empty() && word.back() == ';') word.pop_back();
    uint64_t w = 0;
    if (word.rfind("weight=", 0) == 0 && ParseDecimal(word.substr(7), &w))
      s->weight = static_cast<int>(std::min<uint64_t>(w, 1000000));
    if (word == "down") *down = true;
  }
  return true;
}

}  // namespace

std::string HostPort(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<UpstreamServer> ServersFor(const TrafficSplit& split) {
  const int w = EffectiveCanaryWeight(split);
  std::vector<UpstreamServer> out;
  auto add = [&](const std::vector<Endpoint>& side, int weight) {
    for (const Endpoint& e : side) out.push_back({e.port, weight, e.host});
  };
  if (w <= 0) {
    add(split.stable, 100);
  } else if (w >= 100) {
    add(split.canary, 100);
  } else {
    add(split.stable, 100 - w);
    add(split.canary, w);
  }
  return out;
}

std::vector<UpstreamServer> ServersForSplit(int stable_port, int canary_port,
                                            int canary_weight) {
  TrafficSplit split;
  if (stable_port != 0) split.stable.push_back({"127.0.0.1", stable_port});
  if (canary_port != 0) split.canary.push_back({"127.0.0.1", canary_port});
  split.canary_weight = canary_weight;
  return ServersFor(split);
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
    if (!NumericHost(s.host)) {
      *err = "invalid upstream: host \"" + s.host +
             "\" (must be a numeric address)";
      return false;
    }
  }
  return true;
}

std::string RenderUpstream(const std::string& upstream_name,
                           const std::vector<UpstreamServer>& servers,
                           uint64_t generation, int keepalive) {
  std::string text = Header(generation);
  text += "upstream " + upstream_name + " {\n";
  text += "    zone " + upstream_name + " 64k;\n";
  for (const UpstreamServer& s : servers) {
    text += "    server " + HostPort(s.host, s.port) +
            " weight=" + std::to_string(s.weight) + " max_fails=0;\n";
  }
  if (keepalive > 0)
    text += "    keepalive " + std::to_string(keepalive) + ";\n";
  text += "}\n";
  text += GenerationMap(generation);
  return text;
}

std::string RenderPlaceholderUpstream(const std::string& upstream_name,
                                      int port) {
  std::string text = Header(0);
  text += "upstream " + upstream_name + " {\n";
  text += "    zone " + upstream_name + " 64k;\n";
  text += "    server 127.0.0.1:" + std::to_string(port) + " down;\n";
  text += "}\n";
  text += GenerationMap(0);
  return text;
}

bool ParseUpstreamFile(const std::string& text,
                       const std::string& upstream_name,
                       UpstreamFileContents* out, std::string* err) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const std::string prefix = kHeaderPrefix;
  size_t semi = line.find(';');
  if (line.rfind(prefix, 0) != 0 || semi == std::string::npos ||
      !ParseDecimal(line.substr(prefix.size(), semi - prefix.size()),
                    &out->generation)) {
    *err = "not written by bgctl (no \"" + prefix + "N\" first line)";
    return false;
  }
  out->servers.clear();
  bool inside = false, found = false;
  while (std::getline(in, line)) {
    size_t start = line.find_first_not_of(" \t");
    std::string t = start == std::string::npos ? "" : line.substr(start);
    if (t == "upstream " + upstream_name + " {") {
      inside = found = true;
    } else if (inside && t == "}") {
      inside = false;
    } else if (inside && t.rfind("server ", 0) == 0) {
      UpstreamServer s;
      bool down = false;
      if (!ParseServerLine(t.substr(7), &s, &down)) {
        *err = "cannot read the line \"" + t + "\"";
        return false;
      }
      if (!down) out->servers.push_back(s);
    }
  }
  if (!found) *err = "no upstream " + upstream_name;
  return found;
}

bool RestoreUpstreamFile(FileSystem* fs, const std::string& path,
                         bool had_previous, const std::string& previous,
                         std::string* err) {
  std::string restore_err;
  bool ok = had_previous ? fs->WriteFileAtomic(path, previous, &restore_err)
                         : fs->Remove(path, &restore_err);
  if (!ok) *err += "; restoring " + path + " failed too: " + restore_err;
  return ok;
}

}  // namespace bgctl
