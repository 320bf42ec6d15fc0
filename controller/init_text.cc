// What `bgctl init` prints (init.h): the edits for humans and as JSON.
#include <string>

#include "controller/init.h"

namespace bgctl {

namespace {

// Where an edit goes, for humans.
std::string EditHead(const InitEdit& e) {
  if (e.line == 0) return e.file + ", at the top (before `events`):\n";
  if (e.add.empty()) return e.file + ", in the " + e.block + " block:\n";
  return e.file + ", the " + e.block + " block (line " +
         std::to_string(e.line) + "):\n";
}

// One edit: the line to replace, then the lines to add, each its own step.
std::string EditText(const InitEdit& e) {
  std::string out = EditHead(e);
  const char* step = "   ";
  if (e.replace_line && !e.add.empty()) step = "   a. ";
  if (e.replace_line)
    out += std::string(step) + "replace line " +
           std::to_string(e.replace_line) + ":\n         " + e.replace_text +
           "\n       with:\n         " + e.replace_with + "\n";
  if (e.add.empty()) return out;
  out += std::string(e.replace_line ? "   b. " : "   ") +
         (e.line == 0 ? "add:\n" : "add at the start of the block:\n");
  for (const std::string& a : e.add) out += "         " + a + "\n";
  return out;
}

}  // namespace

std::string InitText(const InitPlan& plan) {
  std::string out = "wrote";
  for (const NginxFile& f : plan.files) out += "\n  " + f.path;
  out += "\nfor the location at " + plan.location + ", nginx.switch " +
         plan.switch_name +
         "\n\nadd these lines to your nginx configuration:\n";
  int n = 0;
  for (const InitEdit& e : plan.edits)
    out += "\n" + std::to_string(++n) + ". " + EditText(e);
  for (const std::string& w : plan.warnings) out += "\nwarning: " + w + "\n";
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
          {"switch", plan.switch_name},
          {"state_dir", plan.state_dir},
          {"access_log", plan.access_log},
          {"files", files},
          {"location", plan.location},
          {"edits", edits},
          {"warnings", plan.warnings},
          {"notes", plan.notes},
          {"next",
           {plan.nginx_test + " && " + plan.nginx_reload, c + " validate",
            c + " deploy --version VERSION"}}};
}

}  // namespace bgctl
