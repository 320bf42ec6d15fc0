// Text that comes from outside bgctl (a backend's log, a hook's output)
// before it enters state.json, history.jsonl or a JSON document.
#ifndef BGCTL_CONTROLLER_TEXT_H_
#define BGCTL_CONTROLLER_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace bgctl {

// `text` with every byte sequence that is not well-formed UTF-8 (a stray
// continuation byte, a truncated or overlong sequence, a surrogate, a code
// point above U+10FFFF) replaced by U+FFFD, one per maximal bad sequence as
// Unicode recommends. Valid text comes back unchanged.
std::string ValidUtf8(std::string_view text);

// `s` without leading and trailing spaces, tabs, CRs and newlines (a
// command's output, an HTTP body).
std::string Trim(const std::string& s);

// printf into a string (at most 511 bytes of it: one line of a table or a
// view).
std::string Format(const char* format, ...)
    __attribute__((format(printf, 1, 2)));

// Parses a non-empty string of decimal digits that fits in 64 bits (a
// generation, a port, a weight); false for anything else.
bool ParseDecimal(const std::string& text, uint64_t* value);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_TEXT_H_
