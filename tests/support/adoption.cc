#include "tests/support/adoption.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace bgctl::testing {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Replace(const std::string& file, const json& replace,
             std::vector<std::string>* lines, std::string* err) {
  const size_t at = replace["line"].get<size_t>();
  const std::string text = replace["text"], with = replace["with"];
  size_t pos = at >= 1 && at <= lines->size() ? (*lines)[at - 1].find(text)
                                              : std::string::npos;
  if (pos == std::string::npos) {
    *err = file + ":" + std::to_string(at) + ": no " + replace.dump();
    return false;
  }
  (*lines)[at - 1].replace(pos, text.size(), with);
  return true;
}

bool Apply(const std::string& file, const json& e,
           std::vector<std::string>* lines, std::string* err) {
  if (!e["replace"].is_null() && !Replace(file, e["replace"], lines, err))
    return false;
  const std::vector<std::string> add = e["add"];
  if (add.empty()) return true;
  const size_t after = e["line"].get<size_t>();
  if (after > lines->size() ||
      (after > 0 && (*lines)[after - 1].find('{') == std::string::npos)) {
    *err = file + ":" + std::to_string(after) + " does not open a block";
    return false;
  }
  lines->insert(lines->begin() + static_cast<long>(after), add.begin(),
                add.end());
  return true;
}

}  // namespace

bool ApplyInitEdits(const json& edits, std::string* err) {
  std::map<std::string, std::vector<json>> by_file;
  for (const json& e : edits) by_file[e["file"]].push_back(e);
  for (auto& [file, list] : by_file) {
    std::vector<std::string> lines = Lines(ReadWholeFile(file));
    std::stable_sort(list.begin(), list.end(),
                     [](const json& a, const json& b) {
                       return a["line"].get<int>() > b["line"].get<int>();
                     });
    for (const json& e : list)
      if (!Apply(file, e, &lines, err)) return false;
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    if (!WriteWholeFile(file, text)) {
      *err = "cannot write " + file;
      return false;
    }
  }
  return true;
}

bool StartSiteBefore(
    Service& svc, ChildProcess* backend, int* port,
    const std::function<bool(const std::string& prefix, int listen_port,
                             int backend_port)>& write,
    std::string* err) {
  *port = PickFreePort();
  ChildOptions options;
  options.stdout_path = svc.dir() + "/before-bgctl.log";
  options.stderr_path = options.stdout_path;
  if (!backend->Start({BACKEND_SAMPLE_BIN, "--port", std::to_string(*port),
                       "--version", "v0"},
                      options, err))
    return false;
  if (!WaitForPort(*port, 5000)) {
    *err = "backend-sample v0 does not listen on port " + std::to_string(*port);
    return false;
  }
  const std::string prefix = svc.nginx().prefix();
  if (!svc.StartUserNginx(
          [&](int listen) { return write(prefix, listen, *port); }, err))
    return false;
  if (VersionOf(svc.Get("/")) == "v0") return true;
  *err = "the site does not answer v0 through nginx";
  return false;
}

std::vector<std::string> InitArgs(Service& svc, const std::string& dir,
                                  const std::string& state_dir,
                                  const std::string& access_log,
                                  const std::vector<std::string>& extra) {
  const std::string prefix = svc.nginx().prefix();
  std::vector<std::string> args = {
      "--output",
      "json",
      "init",
      "--service",
      "app",
      "--blue-port",
      std::to_string(svc.blue()),
      "--green-port",
      std::to_string(svc.green()),
      "--command",
      std::string(BACKEND_SAMPLE_BIN) + " --port {port} --version {version}",
      "--nginx",
      "/usr/sbin/nginx -p " + prefix + " -c " + prefix +
          "/nginx.conf -e stderr",
      "--dir",
      dir,
      "--state-dir",
      state_dir,
      "--access-log",
      access_log};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace bgctl::testing
