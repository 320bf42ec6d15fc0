// bgctl's entry point: parses flags with CLI11 and calls the command table.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "controller/commands.h"
#include "controller/exit_codes.h"

namespace {

// The path of this binary, so bgctl can run itself again (keep_previous).
std::string SelfPath(const char* argv0) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  buf[n] = '\0';
  return buf;
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? bgctl::kExitOk : bgctl::kExitUsage;
  }
  cl.json = output == "json";
  cl.steps_given = sub["deploy"]->count("--steps") > 0;
  cl.self_argv = {SelfPath(argv[0]), "-c", cl.config_path};
  for (const bgctl::CommandInfo& c : bgctl::CommandTable()) {
    if (sub[c.name]->parsed()) return c.run(cl);
  }
  return bgctl::kExitUsage;
}
