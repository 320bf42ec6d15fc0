#include "controller/adoption.h"

namespace bgctl {

std::vector<UpstreamServer> ServersBeforeBgctl(const Config& config,
                                               FileSystem* fs) {
  std::string text, err;
  UpstreamFileContents file;
  if (!fs->ReadFile(config.nginx.upstream_file, &text, &err) ||
      !ParseUpstreamFile(text, config.nginx.upstream_name, &file, &err))
    return {};
  std::vector<UpstreamServer> out;
  for (const UpstreamServer& s : file.servers)
    if (s.port != config.blue_port && s.port != config.green_port)
      out.push_back(s);
  return out;
}

std::string AdoptionNotice(const std::vector<UpstreamServer>& before,
                           HttpProbe* http, nlohmann::json* fields) {
  std::string answering, silent;
  nlohmann::json servers = nlohmann::json::array();
  for (const UpstreamServer& s : before) {
    const std::string address = HostPort(s.host, s.port);
    HttpResponse response;
    std::string err;
    const bool answers = http->Get(s.host, s.port, "/", 500, &response, &err);
    servers.push_back({{"address", address}, {"answers", answers}});
    std::string& list = answers ? answering : silent;
    list += (list.empty() ? "" : ", ") + address;
  }
  (*fields)["servers"] = servers;
  std::string out =
      "the backend that served before bgctl gets no traffic from nginx "
      "now;";
  if (!answering.empty())
    out += " " + answering +
           " still answers: bgctl did not start it and leaves it running, "
           "stop it the way it was started (e.g. `systemctl disable --now "
           "UNIT`) once nothing else uses it;";
  if (!silent.empty()) out += " " + silent + " does not answer any more;";
  out.pop_back();
  return out;
}

}  // namespace bgctl
