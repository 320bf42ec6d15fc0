#include "controller/duration.h"

#include <cmath>
#include <cstdlib>

namespace bgctl {

bool ParseDuration(const std::string& text, int64_t* ms, std::string* err) {
  auto fail = [&] {
    *err = "bad duration \"" + text +
           "\": expected a number and a unit (ms, s, m, h)";
    return false;
  };
  size_t i = 0;
  while (i < text.size() &&
         (isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0 || i == text.size()) return fail();
  std::string number = text.substr(0, i), unit = text.substr(i);
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value))
    return fail();
  double scale;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 3600 * 1000;
  else
    return fail();
  double total = value * scale;
  if (total > 1e15) return fail();
  *ms = static_cast<int64_t>(std::llround(total));
  return true;
}

std::string FormatDuration(int64_t ms) {
  if (ms != 0 && ms % (3600 * 1000) == 0)
    return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % (60 * 1000) == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace bgctl
