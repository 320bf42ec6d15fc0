// The command table, like ninja's tool table: each verb of the CLI maps to a
// function that loads the config, takes the lock where it changes anything,
// and calls the library. main.cc only parses flags into a CommandLine.
#ifndef BGCTL_CONTROLLER_COMMANDS_H_
#define BGCTL_CONTROLLER_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/config.h"
#include "controller/init.h"

namespace bgctl {

struct CommandLine {
  std::string config_path = "bgctl.yaml";
  bool json = false;
  int64_t lock_wait_ms = 0;     // --lock-wait: wait this long for the lock
  std::string version;          // deploy
  std::string steps;            // deploy --steps, e.g. "10,50:forever,100"
  bool steps_given = false;     // --steps was on the command line
  bool full = false;            // promote --full
  bool watch = false;           // status --watch
  std::string interval = "1s";  // status --watch --interval
  int count = 0;                // status --watch --count (0: until Ctrl-C)
  int weight = -1;              // set-weight
  std::string after = "0s";     // retire-previous --after
  std::vector<std::string> self_argv;  // argv to run this bgctl again
  InitOptions init;                    // init (command and nginx below)
  std::string init_command;            // init --command, split on spaces
  std::string init_nginx = "nginx";    // init --nginx, split on spaces
  std::string init_switch = "auto";    // init --switch: auto, reload, lua
};

struct CommandInfo {
  const char* name;
  const char* summary;
  int (*run)(const CommandLine& cl);
  bool hidden;  // internal: not listed in --help
};

// All commands, in the order --help lists them.
const std::vector<CommandInfo>& CommandTable();

// `bgctl init` (init_command.cc).
int CmdInit(const CommandLine& cl);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_COMMANDS_H_
