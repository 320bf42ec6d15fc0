// What the Debian package ships besides the binary: the bash completion
// (made at build time from `bgctl --help-all` by packaging/gen-completion.sh)
// is run in a real bash and must offer every command of the command table,
// and the example bgctl.yaml must be a valid config.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "controller/commands.h"
#include "controller/config.h"
#include "tests/support/process_guard.h"
#include "tests/support/skip.h"

using bgctl::testing::CommandResult;
using bgctl::testing::RunCommand;

namespace {

// The words the completion offers for `line` (the cursor at its end, a
// trailing space meaning a new, empty word), one per element.
std::set<std::string> Complete(const std::string& line, std::string* err) {
#ifdef BGCTL_COMPLETION_FILE
  const std::string script =
      "source \"$1\" || exit 9\n"
      "read -ra COMP_WORDS <<<\"$2\"\n"
      "[[ $2 == *' ' ]] && COMP_WORDS+=('')\n"
      "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
      "COMP_LINE=$2 COMP_POINT=${#2}\n"
      "_bgctl bgctl \"${COMP_WORDS[COMP_CWORD]}\" || exit 8\n"
      "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  CommandResult r = RunCommand(
      {"bash", "--norc", "-c", script, "bash", BGCTL_COMPLETION_FILE, line},
      10000);
  *err = r.err + " exit " + std::to_string(r.exit_code);
  std::set<std::string> words;
  if (r.exit_code != 0) return words;
  std::istringstream in(r.out);
  for (std::string w; std::getline(in, w);)
    if (!w.empty()) words.insert(w);
  return words;
#else
  (void)line;
  *err = "built without the completion (BGCTL_ONLY)";
  return {};
#endif
}

}  // namespace

TEST_CASE(
    "the bash completion offers every command of the command table and no "
    "internal one",
    "[completion]") {
  std::string err;
  std::set<std::string> words = Complete("bgctl ", &err);
  INFO(err);
  std::set<std::string> commands;
  for (const bgctl::CommandInfo& c : bgctl::CommandTable())
    if (!c.hidden) commands.insert(c.name);
  REQUIRE(commands.size() >= 8);
  for (const std::string& c : commands) {
    INFO(c);
    CHECK(words.count(c) == 1);
  }
  for (const bgctl::CommandInfo& c : bgctl::CommandTable())
    if (c.hidden) CHECK(words.count(c.name) == 0);
  // After the commands, only the global flags.
  for (const std::string& w : words)
    if (commands.count(w) == 0) CHECK(w.rfind("-", 0) == 0);
}

TEST_CASE("the bash completion completes a prefix to the one command it names",
          "[completion]") {
  std::string err;
  CHECK(Complete("bgctl dep", &err) == std::set<std::string>{"deploy"});
  CHECK(Complete("bgctl -c x.yaml --output json sta", &err) ==
        std::set<std::string>{"status"});
}

TEST_CASE("the bash completion offers a command's own flags after it",
          "[completion]") {
  std::string err;
  std::set<std::string> deploy = Complete("bgctl deploy --", &err);
  INFO(err);
  CHECK(deploy.count("--version") == 1);
  CHECK(deploy.count("--steps") == 1);
  CHECK(deploy.count("--full") == 0);
  CHECK(Complete("bgctl promote --f", &err) == std::set<std::string>{"--full"});
  CHECK(Complete("bgctl --output ", &err) ==
        std::set<std::string>{"json", "text"});
}

TEST_CASE("the example bgctl.yaml of the package is a valid config",
          "[completion]") {
  bgctl::Config config;
  std::string err;
  bool loaded = bgctl::LoadConfig(
      std::string(BGCTL_SOURCE_DIR) + "/packaging/examples/bgctl.yaml", &config,
      &err);
  INFO(err);
  REQUIRE(loaded);
  CHECK(config.service == "demo");
  CHECK(config.nginx.reload_command ==
        std::vector<std::string>{"systemctl", "reload", "nginx"});
}
