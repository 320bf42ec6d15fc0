// What a user does with `bgctl init`'s output: puts the printed lines into
// their nginx configuration, exactly as printed (init's JSON "edits").
#ifndef BGCTL_TESTS_SUPPORT_INIT_EDITS_H_
#define BGCTL_TESTS_SUPPORT_INIT_EDITS_H_

#include <nlohmann/json.hpp>
#include <string>

namespace bgctl::testing {

// Applies `edits` to the files they name: each replaced line changed (the
// text init showed must be on that line), the added lines right after the
// block's line (which must hold its '{'), or at the top of the file for
// line 0. Bottom-up per file, so earlier line numbers stay right. False
// with *err when a file or line is not what init said.
bool ApplyInitEdits(const nlohmann::json& edits, std::string* err);

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_INIT_EDITS_H_
