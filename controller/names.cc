#include "controller/names.h"

namespace bgctl {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

bool IsValidName(const std::string& s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  for (char c : s)
    if (!IsNameChar(c)) return false;
  return true;
}

bool IsHeaderName(const std::string& s) {
  return IsValidName(s) && s.find_first_of("._") == std::string::npos;
}

bool IsCookieName(const std::string& s) {
  return IsValidName(s) && s.find('.') == std::string::npos;
}

bool IsEnvName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!IsNameChar(c) || c == '.' || c == '-') return false;
  return true;
}

bool IsUnitNamePrefix(const std::string& s) {
  return IsValidName(s) && s[0] != '.' && s[0] != '-';
}

bool ValidateVersion(const std::string& version, std::string* err) {
  if (IsValidName(version)) return true;
  *err = "invalid version \"" + version +
         "\": use 1-64 characters of A-Z a-z 0-9 . _ -, not . or ..";
  return false;
}

}  // namespace bgctl
