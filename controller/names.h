// The names bgctl puts on command lines, in nginx files and in unit names:
// the one place that says what a safe name is.
#ifndef BGCTL_CONTROLLER_NAMES_H_
#define BGCTL_CONTROLLER_NAMES_H_

#include <string>

namespace bgctl {

// 1-64 characters of [A-Za-z0-9._-], and not "." or ".." (a version fills
// {version} in paths such as /opt/app/releases/{version}/bin/app): services,
// upstream names, versions.
bool IsValidName(const std::string& s);

// A valid name that systemd loads as the start of a unit name and that no
// command line takes for an option: not starting with '.' (systemd skips
// hidden unit files and drop-in folders) or '-'.
bool IsUnitNamePrefix(const std::string& s);

// The lua switch's request header (nginx.lua.preview_header): 1-64
// characters of [A-Za-z0-9-].
bool IsHeaderName(const std::string& s);

// The lua switch's cookie (nginx.lua.sticky_cookie): 1-64 characters of
// [A-Za-z0-9_-].
bool IsCookieName(const std::string& s);

// An environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(const std::string& s);

// A version is a valid name. On failure *err is
//   invalid version "v 2": use 1-64 characters of A-Z a-z 0-9 . _ -, not .
//   or ..
bool ValidateVersion(const std::string& version, std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_NAMES_H_
