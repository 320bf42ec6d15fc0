// What `bgctl init` prints (init.h): the edits for humans and as JSON.
#include <string>

#include "controller/init.h"

namespace bgctl {

std::string InitText(const InitPlan& plan) {
  std::string out = "wrote";
  for (const NginxFile& f : plan.files) out += "\n  " + f.path;
  out += "\nfor the location at " + plan.location +
         "\n\nadd these lines to your nginx configuration:\n";
  int n = 0;
  for (const InitEdit& e : plan.edits) {
    out += "\n" + std::to_string(++n) + ". " + e.file +
           ", at the start of the " + e.block + " block (line " +
           std::to_string(e.line) + "):\n";
    if (e.replace_line) {
      const std::string head =
          "replace line " + std::to_string(e.replace_line) + ": ";
      out += "     " + head + e.replace_text + "\n     " +
             std::string("with:").append(head.size() - 5, ' ') +
             e.replace_with + "\n";
    }
    for (const std::string& a : e.add) out += "     " + a + "\n";
  }
  for (const std::string& note : plan.notes) out += "\nnote: " + note + "\n";
  out += "\nthen:\n";
  const nlohmann::json doc = InitJson(plan);
  for (const nlohmann::json& cmd : doc["next"])
    out += "  " + cmd.get<std::string>() + "\n";
  return out;
}

nlohmann::json InitJson(const InitPlan& plan) {
  nlohmann::json files = nlohmann::json::array();
  for (const NginxFile& f : plan.files) files.push_back(f.path);
  nlohmann::json edits = nlohmann::json::array();
  for (const InitEdit& e : plan.edits) {
    nlohmann::json replace = nullptr;
    if (e.replace_line)
      replace = {{"line", e.replace_line},
                 {"text", e.replace_text},
                 {"with", e.replace_with}};
    edits.push_back({{"file", e.file},
                     {"line", e.line},
                     {"block", e.block},
                     {"add", e.add},
                     {"replace", replace}});
  }
  const std::string c = "bgctl -c " + plan.config;
  return {{"config", plan.config},
          {"files", files},
          {"location", plan.location},
          {"edits", edits},
          {"notes", plan.notes},
          {"next",
           {plan.nginx_test + " && " + plan.nginx_reload, c + " validate",
            c + " deploy --version VERSION"}}};
}

}  // namespace bgctl
