// How commands talk to the user: one line per event with the elapsed time in
// text mode, or events gathered into one JSON document with --output json.
// The Reporter is the only way a command's output leaves bgctl: with
// --output json, stdout gets exactly one JSON document (Finish), and a failed
// command's document has an "error" member.
#ifndef BGCTL_CONTROLLER_OUTPUT_H_
#define BGCTL_CONTROLLER_OUTPUT_H_

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/env.h"

namespace bgctl {

class Reporter {
 public:
  // Writes text to `out` (normally stdout) and warnings and errors to `err`.
  // In json mode nothing is written until Finish(). `clock` is not owned and
  // must outlive the reporter; elapsed times count from construction.
  Reporter(Clock* clock, bool json, FILE* out = stdout, FILE* err = stderr);

  // One event: `kind` is a short machine name ("started", "healthy",
  // "weight", "window", "promoted", ...), `message` the human line.
  // `fields` are added to the event's JSON object.
  void Event(const std::string& kind, const std::string& message,
             const nlohmann::json& fields = nlohmann::json::object());
  // A problem the user must see. It always goes to `err` at once ("bgctl:
  // MESSAGE"); in json mode it is also kept in the document's "errors".
  void Error(const std::string& message);
  // An event the user must see at once, also in json mode (then on `err`,
  // "bgctl: MESSAGE", besides the document's event), e.g. a wait.
  void Notice(const std::string& kind, const std::string& message,
              const nlohmann::json& fields = nlohmann::json::object());
  // Free text printed as is in text mode (tables); kept under `key` in JSON.
  void Block(const std::string& key, const std::string& text,
             const nlohmann::json& json_value);
  // Sets a top-level field of the JSON document.
  void Set(const std::string& key, const nlohmann::json& value);
  // The document a successful command prints in json mode instead of the
  // events document (`status` prints the status object, `history` an
  // array). Ignored when the command fails: the failure document is printed.
  void Result(const nlohmann::json& value);
  // In json mode prints the one document on `out`: the Result() if one was
  // given and exit_code is 0, else the events document with "exit_code" and,
  // when exit_code is not 0, "error": the last Error() message, or else the
  // "last_error" of a "status" member, or else "exit code N". Strings that
  // are not UTF-8 are printed with U+FFFD. Only the first call prints.
  void Finish(int exit_code);

  // True in text mode on a terminal: a deploy then keeps a live view (the
  // watch frame) under its event lines, redrawn in place.
  bool live() const { return live_; }
  // Replaces the live view with `text` (several lines). Ignored unless live.
  void Footer(const std::string& text);

  int64_t ElapsedMs() const;
  bool json() const { return json_; }

 private:
  Clock* clock_;
  bool json_;
  FILE* out_;
  FILE* err_;
  int64_t start_ms_;
  nlohmann::json doc_;
  nlohmann::json result_;  // null: none
  bool finished_ = false;
  bool live_ = false;
  std::string footer_;  // the live view on screen now
  // Erases the live view from the screen (cursor to its first line).
  void EraseFooter();
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_OUTPUT_H_
