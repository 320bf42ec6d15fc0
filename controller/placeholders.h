// "{name}" placeholders in argv templates (backend.command, hooks): filled
// inside single argv elements, never through a shell.
#ifndef BGCTL_CONTROLLER_PLACEHOLDERS_H_
#define BGCTL_CONTROLLER_PLACEHOLDERS_H_

#include <map>
#include <string>
#include <vector>

namespace bgctl {

// Replaces each "{name}" in every element of `argv` by vars[name]. Unknown
// placeholders are left as they are. Never joins or splits elements.
std::vector<std::string> FillPlaceholders(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& vars);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_PLACEHOLDERS_H_
