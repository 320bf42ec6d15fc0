#include "controller/systemctl.h"

#include "controller/systemd_unit.h"

namespace bgctl {

namespace {

std::string Joined(const std::string& program,
                   const std::vector<std::string>& args) {
  std::string s = program;
  for (const std::string& a : args) s += " " + a;
  return s;
}

void TrimNewlines(std::string* s) {
  while (!s->empty() && (s->back() == '\n' || s->back() == '\r')) s->pop_back();
}

}  // namespace

bool Systemctl::Call(const std::vector<std::string>& args, int64_t timeout_ms,
                     std::string* output, std::string* err) {
  std::vector<std::string> argv = {"systemctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r;
  std::string run_err;
  if (!runner_->Run(argv, "", timeout_ms, &r, &run_err)) {
    *err = Joined("systemctl", args) + ": " + run_err;
    return false;
  }
  TrimNewlines(&r.output);
  if (output) *output = r.output;
  if (r.exit_code == 0 && !r.timed_out) return true;
  *err = Joined("systemctl", args) + ": " +
         (r.timed_out ? "timed out after " + std::to_string(timeout_ms) + " ms"
                      : "exit " + std::to_string(r.exit_code));
  if (!r.output.empty()) *err += ": " + r.output;
  return false;
}

bool Systemctl::Show(const std::string& unit,
                     const std::vector<std::string>& props,
                     std::map<std::string, std::string>* out,
                     std::string* err) {
  std::string list;
  for (const std::string& p : props) list += (list.empty() ? "" : ",") + p;
  std::string text;
  if (!Call({"show", unit, "-p", list}, kShortTimeoutMs, &text, err))
    return false;
  *out = ParseShowOutput(text);
  return true;
}

bool Systemctl::IsEnabled(const std::string& unit, std::string* state,
                          std::string* err) {
  std::string text, ignored;
  Call({"is-enabled", unit}, kShortTimeoutMs, &text, &ignored);
  size_t nl = text.find('\n');
  *state = text.substr(0, nl);
  if (!state->empty() && state->find(' ') == std::string::npos) return true;
  *err = ignored.empty() ? "systemctl is-enabled " + unit + ": no answer"
                         : ignored;
  return false;
}

std::string Systemctl::JournalTail(const std::string& unit, int lines) {
  // The unit's last run only (the one that just failed, not the versions
  // before it): its own lines and systemd's about it. -u when systemd has
  // no invocation id to give.
  std::vector<std::string> argv = {"journalctl", "-n", std::to_string(lines),
                                   "--no-pager", "-q", "-o",
                                   "short-iso"};
  std::map<std::string, std::string> props;
  std::string err;
  const std::string* id = nullptr;
  if (Show(unit, {"InvocationID"}, &props, &err)) id = &props["InvocationID"];
  if (id && id->size() == 32 &&
      id->find_first_not_of("0123456789abcdef") == std::string::npos) {
    argv.insert(argv.end(),
                {"_SYSTEMD_INVOCATION_ID=" + *id, "+", "INVOCATION_ID=" + *id});
  } else {
    argv.insert(argv.end(), {"-u", unit});
  }
  RunResult r;
  if (!runner_->Run(argv, "", kShortTimeoutMs, &r, &err))
    return "(cannot read the journal: " + err + ")\n";
  if (r.exit_code != 0 || r.timed_out)
    return "(journalctl for " + unit + " failed: " + r.output + ")\n";
  if (!r.output.empty() && r.output.back() != '\n') r.output += '\n';
  return r.output;
}

}  // namespace bgctl
