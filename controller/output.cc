#include "controller/output.h"

#include <unistd.h>

#include <algorithm>

namespace bgctl {

Reporter::Reporter(Clock* clock, bool json, FILE* out, FILE* err)
    : clock_(clock),
      json_(json),
      out_(out),
      err_(err),
      start_ms_(clock->NowMs()),
      doc_(nlohmann::json::object()) {
  doc_["events"] = nlohmann::json::array();
  live_ = !json_ && isatty(fileno(out_));
}

void Reporter::EraseFooter() {
  if (footer_.empty()) return;
  int lines =
      static_cast<int>(std::count(footer_.begin(), footer_.end(), '\n'));
  // Cursor up to the footer's first line, then clear to the end of screen.
  std::fprintf(out_, "\033[%dF\033[J", lines);
}

void Reporter::Footer(const std::string& text) {
  if (!live_) return;
  EraseFooter();
  footer_ = text;
  std::fputs(footer_.c_str(), out_);
  std::fflush(out_);
}

int64_t Reporter::ElapsedMs() const { return clock_->NowMs() - start_ms_; }

void Reporter::Event(const std::string& kind, const std::string& message,
                     const nlohmann::json& fields) {
  int64_t t = ElapsedMs();
  if (json_) {
    nlohmann::json e = fields;
    e["t_ms"] = t;
    e["event"] = kind;
    e["message"] = message;
    doc_["events"].push_back(e);
    return;
  }
  EraseFooter();
  std::fprintf(out_, "[%4lld.%03llds] %s\n", static_cast<long long>(t / 1000),
               static_cast<long long>(t % 1000), message.c_str());
  std::fputs(footer_.c_str(), out_);
  std::fflush(out_);
}

void Reporter::Notice(const std::string& kind, const std::string& message,
                      const nlohmann::json& fields) {
  Event(kind, message, fields);
  if (!json_) return;
  std::fprintf(err_, "bgctl: %s\n", message.c_str());
  std::fflush(err_);
}

void Reporter::Error(const std::string& message) {
  if (json_) {
    doc_["errors"].push_back(message);
  }
  // Errors always reach stderr, so a CI log shows them in json mode too.
  EraseFooter();
  std::fflush(out_);
  std::fprintf(err_, "bgctl: %s\n", message.c_str());
  std::fflush(err_);
  if (live_) {
    std::fputs(footer_.c_str(), out_);
    std::fflush(out_);
  }
}

void Reporter::Block(const std::string& key, const std::string& text,
                     const nlohmann::json& json_value) {
  if (json_) {
    doc_[key] = json_value;
    return;
  }
  EraseFooter();
  footer_.clear();
  std::fputs(text.c_str(), out_);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', out_);
  std::fflush(out_);
}

void Reporter::Set(const std::string& key, const nlohmann::json& value) {
  doc_[key] = value;
}

void Reporter::Result(const nlohmann::json& value) { result_ = value; }

namespace {

// What a failed command's "error" member says (see Finish).
std::string FailureText(const nlohmann::json& doc, int exit_code) {
  auto errors = doc.find("errors");
  if (errors != doc.end() && errors->is_array() && !errors->empty() &&
      errors->back().is_string())
    return errors->back().get<std::string>();
  auto status = doc.find("status");
  if (status != doc.end() && status->is_object()) {
    auto last = status->find("last_error");
    if (last != status->end() && last->is_string() &&
        !last->get<std::string>().empty())
      return last->get<std::string>();
  }
  return "exit code " + std::to_string(exit_code);
}

}  // namespace

void Reporter::Finish(int exit_code) {
  if (!json_ || finished_) return;
  finished_ = true;
  const nlohmann::json* doc = &doc_;
  if (exit_code == 0 && !result_.is_null()) {
    doc = &result_;
  } else {
    doc_["exit_code"] = exit_code;
    if (exit_code != 0) doc_["error"] = FailureText(doc_, exit_code);
  }
  std::string text =
      doc->dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

}  // namespace bgctl
