// How commands talk to the user: one line per event with the elapsed time in
// text mode, or events gathered into one JSON document with --output json.
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
  // A problem the user must see; in text mode it goes to `err`.
  void Error(const std::string& message);
  // Free text printed as is in text mode (tables); kept under `key` in JSON.
  void Block(const std::string& key, const std::string& text,
             const nlohmann::json& json_value);
  // Sets a top-level field of the JSON document.
  void Set(const std::string& key, const nlohmann::json& value);
  // In json mode prints the document (with "exit_code") on `out`.
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
  bool live_ = false;
  std::string footer_;  // the live view on screen now
  // Erases the live view from the screen (cursor to its first line).
  void EraseFooter();
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_OUTPUT_H_
