// The names and the text of what the systemd runner puts on disk (pure
// functions; systemd_slot_runner.cc writes and loads them):
//
//   written unit (no backend.systemd.template):
//     UNIT_DIR/bgctl-SERVICE-SLOT.service       the whole unit
//   template unit (backend.systemd.template: NAME@.service, the user's):
//     UNIT_DIR/NAME@SLOT.service.d/50-bgctl.conf   environment, stop, restart
//   both, while bgctl watches the instance (until it becomes stable):
//     UNIT_DIR/UNIT.d/90-bgctl-canary.conf       Restart=no
//
// Every value that comes from the config is quoted and escaped for systemd's
// unit-file syntax ("..." with C escapes, % as %%, and $ as $$ in
// ExecStart=), so an argument is passed to the program exactly as written
// in bgctl.yaml.
#ifndef BGCTL_CONTROLLER_SYSTEMD_UNIT_H_
#define BGCTL_CONTROLLER_SYSTEMD_UNIT_H_

#include <map>
#include <string>
#include <vector>

#include "controller/config.h"

namespace bgctl {

// The unit that runs `slot` ("blue" or "green"): bgctl-SERVICE-SLOT.service,
// or NAME@SLOT.service with a template. Built only from names the config
// validated (service, template). "" for any other slot.
std::string SlotUnitName(const Config& config, const std::string& slot);

// UNIT_DIR/UNIT.d: the folder of the unit's drop-ins.
std::string DropInDir(const Config& config, const std::string& unit);
// The drop-in that holds a template instance's settings.
std::string TemplateDropInPath(const Config& config, const std::string& unit);
// The drop-in that turns restarts off while bgctl watches the instance.
std::string CanaryDropInPath(const Config& config, const std::string& unit);

// One word for ExecStart= (exec true) or Environment= (exec false): in
// double quotes; backslash, double quote and control characters escaped
// C-style (\\ \" \n \t \xNN), % as %%, and in ExecStart= $ as $$. False
// for a word with a NUL byte, which a unit file cannot hold.
bool QuoteUnitWord(const std::string& word, bool exec, std::string* out);

// What one start of a slot's instance puts into its files.
struct UnitSpec {
  std::string unit;
  std::string slot;
  std::string version;
  int port = 0;
  // Written units: the program's argv, argv[0] an absolute path.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // InstanceEnvironment()
};

// The whole unit file of a written unit. False with *err when a value
// cannot be put in a unit file (a NUL byte; a workdir with a control
// character or a backslash).
bool RenderSlotUnit(const Config& config, const UnitSpec& spec,
                    std::string* text, std::string* err);
// The drop-in of a template instance (no ExecStart: the template's runs).
bool RenderTemplateDropIn(const Config& config, const UnitSpec& spec,
                          std::string* text, std::string* err);
// The canary drop-in's text.
std::string RenderCanaryDropIn();

// `systemctl show -p A,B` output ("A=1\nB=x\n") as a map.
std::map<std::string, std::string> ParseShowOutput(const std::string& text);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SYSTEMD_UNIT_H_
