// bgctl's entry point: parses flags with CLI11 and calls the command table.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "controller/commands.h"
#include "controller/duration.h"
#include "controller/exit_codes.h"
#include "controller/output.h"

namespace {

// The path of this binary, so bgctl can run itself again (keep_previous).
std::string SelfPath(const char* argv0) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  buf[n] = '\0';
  return buf;
}

// Whether argv asks for --output json, read before CLI11 parses it, so that
// a usage error is reported in the format asked for.
bool WantsJson(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--output=json" ||
        (a == "--output" && i + 1 < argc && std::string(argv[i + 1]) == "json"))
      return true;
  }
  return false;
}

// A usage error (exit 2) through the Reporter: one JSON document with
// "error" in json mode, "bgctl: MESSAGE" on stderr in any case.
int UsageError(bool json, const std::string& message) {
  bgctl::Reporter out(bgctl::RealClock(), json);
  out.Error(message);
  out.Finish(bgctl::kExitUsage);
  return bgctl::kExitUsage;
}

// --help-all lists each command on one line (with its positionals), its
// options indented below it: the layout help2man turns into the man page's
// COMMANDS list (packaging/gen-completion.sh reads it too).
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_subcommands(const CLI::App* app,
                               CLI::AppFormatMode mode) const override {
    if (mode != CLI::AppFormatMode::All)
      return CLI::Formatter::make_subcommands(app, mode);
    std::stringstream out;
    out << "\nCommands:\n";
    for (const CLI::App* sub : app->get_subcommands({})) {
      if (sub->get_group().empty()) continue;  // hidden
      std::string name = sub->get_name();
      for (const CLI::Option* p : sub->get_options(
               [](const CLI::Option* o) { return o->get_positional(); }))
        name += " " + p->get_name();
      CLI::detail::format_help(out, name, sub->get_description(),
                               get_column_width());
      for (const CLI::Option* o : sub->get_options([sub](const CLI::Option* o) {
             return o->nonpositional() && o != sub->get_help_ptr() &&
                    o != sub->get_help_all_ptr();
           }))
        CLI::detail::format_help(
            out, "  " + make_option_name(o, false) + make_option_opts(o),
            make_option_desc(o), get_column_width());
    }
    return out.str();
  }
};

// The exit codes of exit_codes.h, for the end of --help.
std::string ExitCodesHelp() {
  // Tagged lines (key, two spaces or more, text; continuations under the
  // text) and a blank line after the prose: the layout help2man turns into
  // a clean list in the man page.
  std::string text =
      "Configuration:\n"
      "  bgctl.yaml (-c); `bgctl validate` checks it and the live nginx, and\n"
      "  prints how the canary will be judged. The choices:\n"
      "\n"
      "  nginx.switch              reload (any nginx) or lua (no reload)\n"
      "  nginx.lua                 control_url, preview_header,\n"
      "                            sticky_cookie (lua switch)\n"
      "  nginx.upstream_keepalive  N: keepalive N in the upstream (default\n"
      "                            0, none; needs HTTP/1.1 to it)\n"
      "  backend.runner            process or systemd (each slot a unit)\n"
      "  rollout.analysis.method   sequential (alpha, error_margin,\n"
      "                            latency_margin) or windows\n"
      "  metrics.textfile          a .prom file for node_exporter\n"
      "\n"
      "Exit status:\n";
  for (const auto& [code, meaning] : bgctl::kExitCodeMeanings)
    text += "  " + std::to_string(code) + "  " + meaning + "\n";
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bgctl::CommandLine cl;
  std::string output = "text";
  // The name is fixed, not argv[0]: --help (and so the man page) says
  // "bgctl" however it was started.
  CLI::App app{
      "bgctl: zero-downtime blue/green and canary deploys behind nginx",
      "bgctl"};
  auto formatter = std::make_shared<HelpFormatter>();
  formatter->column_width(34);
  app.formatter(formatter);  // before add_subcommand: they share it
  app.set_version_flag("--version", "bgctl " BGCTL_VERSION);
  // --help-all: every command with its own flags (the man page is made from
  // it by help2man, the bash completion by packaging/gen-completion.sh).
  app.set_help_all_flag("--help-all", "help for every command, then exit");
  app.footer(ExitCodesHelp());
  app.add_option("-c,--config", cl.config_path, "config file")
      ->capture_default_str();
  app.add_option("--output", output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  std::string lock_wait = "0s";
  app.add_option("--lock-wait", lock_wait,
                 "wait up to DURATION (e.g. 5m) for the service's lock "
                 "instead of exiting 4 at once")
      ->type_name("DURATION")
      ->capture_default_str();
  app.require_subcommand(1);

  std::map<std::string, CLI::App*> sub;
  for (const bgctl::CommandInfo& c : bgctl::CommandTable()) {
    CLI::App* s = app.add_subcommand(c.name, c.summary);
    if (c.hidden) s->group("");
    sub[c.name] = s;
  }
  sub["deploy"]
      ->add_option("--version", cl.version, "version to deploy")
      ->required();
  sub["deploy"]->add_option(
      "--steps", cl.steps,
      "canary weights, e.g. 10,50,100 (each may add :PAUSE or :forever)");
  sub["promote"]->add_flag("--full", cl.full, "go to 100% now");
  sub["status"]->add_flag("--watch", cl.watch, "live view, redrawn in place");
  sub["status"]
      ->add_option("--interval", cl.interval, "with --watch: redraw every")
      ->capture_default_str();
  sub["status"]->add_option("--count", cl.count,
                            "with --watch: stop after N frames (0: Ctrl-C)");
  sub["set-weight"]
      ->add_option("PCT", cl.weight, "percent on the canary")
      ->required()
      ->check(CLI::Range(0, 100));
  sub["retire-previous"]->add_option("--after", cl.after, "wait this long");
  CLI::App* init = sub["init"];
  init->add_option("--dir", cl.init.dir,
                   "folder for bgctl.yaml and the nginx snippets (default "
                   "/etc/bgctl/SERVICE)");
  init->add_option("--service", cl.init.service, "service name")->required();
  init->add_option("--blue-port", cl.init.blue_port, "blue slot's port")
      ->required();
  init->add_option("--green-port", cl.init.green_port, "green slot's port")
      ->required();
  init->add_option("--command", cl.init_command,
                   "backend command line, split on spaces, with {port} "
                   "(e.g. '/srv/app/bin/app --port {port}')")
      ->required();
  init->add_option("--nginx", cl.init_nginx,
                   "nginx and its options, split on spaces (e.g. 'nginx -c "
                   "/etc/nginx/nginx.conf'); -T, -t and -s reload are added")
      ->capture_default_str();
  init->add_option("--location", cl.init.location,
                   "the location's path, when several proxy");
  init->add_option("--server-name", cl.init.server_name,
                   "a server_name of its server, when several proxy");
  init->add_option("--upstream-name", cl.init.upstream_name,
                   "default SERVICE_backend");
  init->add_option("--state-dir", cl.init.state_dir,
                   "bgctl's state and upstream file (default "
                   "/var/lib/bgctl/SERVICE)");
  init->add_option("--access-log", cl.init.access_log,
                   "bgctl's access log (default "
                   "/var/log/nginx/SERVICE.bgctl.log)");
  init->add_option("--switch", cl.init_switch,
                   "auto (lua where nginx has the Lua module), reload or lua")
      ->check(CLI::IsMember({"auto", "reload", "lua"}))
      ->capture_default_str();
  init->add_option("--health-path", cl.init.health_path,
                   "backend's health check path")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print as CLI11 does; errors go through the
    // Reporter.
    if (e.get_exit_code() == 0 || !WantsJson(argc, argv))
      return app.exit(e) == 0 ? bgctl::kExitOk : bgctl::kExitUsage;
    return UsageError(true, e.what());
  }
  cl.json = output == "json";
  cl.steps_given = sub["deploy"]->count("--steps") > 0;
  std::string err;
  if (!bgctl::ParseDuration(lock_wait, &cl.lock_wait_ms, &err))
    return UsageError(cl.json, "--lock-wait: " + err);
  cl.self_argv = {SelfPath(argv[0]), "-c", cl.config_path};
  for (const bgctl::CommandInfo& c : bgctl::CommandTable()) {
    if (sub[c.name]->parsed()) return c.run(cl);
  }
  return bgctl::kExitUsage;
}
