// Durations as written in bgctl.yaml and on command lines: an integer or
// decimal number followed by a unit: "250ms", "5s", "1.5s", "2m", "1h".
#ifndef BGCTL_CONTROLLER_DURATION_H_
#define BGCTL_CONTROLLER_DURATION_H_

#include <cstdint>
#include <string>

namespace bgctl {

// Parses `text` into milliseconds. Returns false and sets *err to a message
// such as `bad duration "5x": expected a number and a unit (ms, s, m, h)`
// when the text is not a duration. Negative durations are rejected.
bool ParseDuration(const std::string& text, int64_t* ms, std::string* err);

// Formats milliseconds the shortest exact way: 250 -> "250ms", 5000 -> "5s",
// 120000 -> "2m".
std::string FormatDuration(int64_t ms);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_DURATION_H_
