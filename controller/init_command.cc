// `bgctl init` on the command line: flags into InitOptions, the real
// environment, the plan printed (init.h does the work).
#include <string>
#include <vector>

#include "controller/commands.h"
#include "controller/exit_codes.h"
#include "controller/output.h"

namespace bgctl {
namespace {

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while ((i = line.find_first_not_of(" \t", i)) != std::string::npos) {
    size_t end = line.find_first_of(" \t", i);
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

InitSwitch SwitchOf(const std::string& name) {
  if (name == "lua") return InitSwitch::kLua;
  if (name == "reload") return InitSwitch::kReload;
  return InitSwitch::kAuto;
}

}  // namespace

// Writes bgctl.yaml and the nginx snippets for the location nginx -T shows
// proxying the service, and prints the lines to add to nginx's config.
int CmdInit(const CommandLine& cl) {
  Reporter out(RealClock(), cl.json);
  Env env = RealEnv();
  InitOptions options = cl.init;
  options.command = Words(cl.init_command);
  options.nginx = Words(cl.init_nginx);
  options.switch_kind = SwitchOf(cl.init_switch);
  if (!cl.self_argv.empty())
    options.lua_dir = ShippedLuaDir(env.fs, cl.self_argv[0]);
  InitPlan plan;
  std::string err;
  InitOutcome r = RunInit(options, env, RealSocketInspector(), &plan, &err);
  if (r != InitOutcome::kOk) {
    out.Error(err);
    const int code = r == InitOutcome::kUsage ? kExitUsage : kExitFailed;
    out.Finish(code);
    return code;
  }
  out.Result(InitJson(plan));
  out.Block("init", InitText(plan), nullptr);
  out.Finish(kExitOk);
  return kExitOk;
}

}  // namespace bgctl
