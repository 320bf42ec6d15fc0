// bgctl's entry point: parses flags with CLI11 and calls the command table.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

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

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bgctl::CommandLine cl;
  std::string output = "text";
  CLI::App app{
      "bgctl: zero-downtime blue/green and canary deploys behind nginx"};
  app.set_version_flag("--version", "bgctl " BGCTL_VERSION);
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
      ->add_option("--interval", cl.interval, "--watch: redraw every")
      ->capture_default_str();
  sub["status"]->add_option("--count", cl.count,
                            "--watch: stop after N frames (0: Ctrl-C)");
  sub["set-weight"]
      ->add_option("PCT", cl.weight, "percent on the canary")
      ->required()
      ->check(CLI::Range(0, 100));
  sub["retire-previous"]->add_option("--after", cl.after, "wait this long");
  CLI::App* init = sub["init"];
  init->add_option("--dir", cl.init.dir, "folder to write into")
      ->capture_default_str();
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
  init->add_option("--access-log", cl.init.access_log,
                   "bgctl's access log (default nginx/access.log in --dir)");
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
