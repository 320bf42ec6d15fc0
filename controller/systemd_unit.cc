#include "controller/systemd_unit.h"

#include <cstdio>

namespace bgctl {

namespace {

const char kTemplateSuffix[] = "@.service";

// The [Service] lines both kinds of unit get from the config: the
// environment, the drain as systemd's stop, restarts, the journal.
bool ServiceLines(const Config& config, const UnitSpec& spec, std::string* out,
                  std::string* err) {
  for (const auto& [name, value] : spec.env) {
    std::string word;
    if (!QuoteUnitWord(name + "=" + value, /*exec=*/false, &word)) {
      *err = "backend.env." + name + ": a unit file cannot hold a NUL byte";
      return false;
    }
    *out += "Environment=" + word + "\n";
  }
  const DrainConfig& drain = config.backend.drain;
  *out += "KillMode=control-group\n";
  *out += "KillSignal=" + drain.signal_name + "\n";
  *out += "TimeoutStopSec=" + std::to_string(drain.timeout_ms) + "ms\n";
  *out += "Restart=on-failure\n";
  *out += "CPUAccounting=yes\n";
  return true;
}

std::string Header(const Config& config, const UnitSpec& spec) {
  return "# Written by bgctl for service " + config.service + ", slot " +
         spec.slot + " (version " + spec.version + ", port " +
         std::to_string(spec.port) +
         ").\n# bgctl rewrites this file at every start of the slot: change "
         "bgctl.yaml, not this file.\n";
}

// A path for WorkingDirectory=, which takes it unquoted: % doubled; control
// characters and backslashes refused.
bool UnitPath(const std::string& path, std::string* out) {
  out->clear();
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\')
      return false;
    if (c == '%') *out += '%';
    *out += c;
  }
  return true;
}

}  // namespace

std::string SlotUnitName(const Config& config, const std::string& slot) {
  if (slot != "blue" && slot != "green") return "";
  const std::string& tmpl = config.backend.systemd.template_unit;
  if (tmpl.empty()) return "bgctl-" + config.service + "-" + slot + ".service";
  std::string prefix =
      tmpl.substr(0, tmpl.size() - (sizeof kTemplateSuffix - 1));
  return prefix + "@" + slot + ".service";
}

std::string DropInDir(const Config& config, const std::string& unit) {
  return config.backend.systemd.unit_dir + "/" + unit + ".d";
}

std::string TemplateDropInPath(const Config& config, const std::string& unit) {
  return DropInDir(config, unit) + "/50-bgctl.conf";
}

std::string CanaryDropInPath(const Config& config, const std::string& unit) {
  return DropInDir(config, unit) + "/90-bgctl-canary.conf";
}

bool QuoteUnitWord(const std::string& word, bool exec, std::string* out) {
  std::string q = "\"";
  for (char ch : word) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == 0) return false;
    switch (ch) {
      case '\\':
        q += "\\\\";
        break;
      case '"':
        q += "\\\"";
        break;
      case '\n':
        q += "\\n";
        break;
      case '\t':
        q += "\\t";
        break;
      case '%':
        q += "%%";
        break;
      case '$':
        q += exec ? "$$" : "$";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          q += hex;
        } else {
          q += ch;
        }
    }
  }
  *out = q + "\"";
  return true;
}

bool RenderSlotUnit(const Config& config, const UnitSpec& spec,
                    std::string* text, std::string* err) {
  std::string exec;
  for (const std::string& arg : spec.argv) {
    std::string word;
    if (!QuoteUnitWord(arg, /*exec=*/true, &word)) {
      *err = "backend.command: a unit file cannot hold a NUL byte";
      return false;
    }
    exec += (exec.empty() ? "" : " ") + word;
  }
  std::string workdir;
  if (!UnitPath(config.backend.workdir, &workdir)) {
    *err = "backend.workdir \"" + config.backend.workdir +
           "\": a unit file cannot hold a control character or a backslash "
           "in WorkingDirectory=";
    return false;
  }
  const SystemdConfig& sd = config.backend.systemd;
  std::string t = Header(config, spec);
  t += "[Unit]\n";
  t += "Description=" + config.service + " " + spec.slot +
       " (bgctl): " + spec.version + " on port " + std::to_string(spec.port) +
       "\n";
  t += "After=network.target\n\n";
  t += "[Service]\n";
  t += "Type=exec\n";
  t += "ExecStart=" + exec + "\n";
  t += "WorkingDirectory=" + workdir + "\n";
  if (!sd.user.empty()) t += "User=" + sd.user + "\n";
  if (!ServiceLines(config, spec, &t, err)) return false;
  t += "StandardOutput=journal\n";
  t += "StandardError=journal\n";
  t += "SyslogIdentifier=" + config.service + "-" + spec.slot + "\n\n";
  t += "[Install]\n";
  t += "WantedBy=" + sd.wanted_by + "\n";
  *text = t;
  return true;
}

bool RenderTemplateDropIn(const Config& config, const UnitSpec& spec,
                          std::string* text, std::string* err) {
  std::string t = Header(config, spec);
  t += "[Service]\n";
  if (!ServiceLines(config, spec, &t, err)) return false;
  *text = t;
  return true;
}

std::string RenderCanaryDropIn() {
  return "# Written by bgctl: while bgctl watches this instance (a canary, or "
         "a\n# version being started again), a crash is bgctl's to handle, "
         "not\n# systemd's. Removed when the slot becomes stable.\n"
         "[Service]\nRestart=no\n";
}

std::map<std::string, std::string> ParseShowOutput(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    at = end + 1;
  }
  return out;
}

}  // namespace bgctl
