#include "controller/output.h"

namespace bgctl {

Reporter::Reporter(Clock* clock, bool json, FILE* out, FILE* err)
    : clock_(clock), json_(json), out_(out), err_(err),
      start_ms_(clock->NowMs()), doc_(nlohmann::json::object()) {
  doc_["events"] = nlohmann::json::array();
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
  std::fprintf(out_, "[%4lld.%03llds] %s\n", static_cast<long long>(t / 1000),
               static_cast<long long>(t % 1000), message.c_str());
  std::fflush(out_);
}

void Reporter::Error(const std::string& message) {
  if (json_) {
    doc_["errors"].push_back(message);
  }
  // Errors always reach stderr, so a CI log shows them in json mode too.
  std::fprintf(err_, "bgctl: %s\n", message.c_str());
  std::fflush(err_);
}

void Reporter::Block(const std::string& key, const std::string& text,
                     const nlohmann::json& json_value) {
  if (json_) {
    doc_[key] = json_value;
    return;
  }
  std::fputs(text.c_str(), out_);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', out_);
  std::fflush(out_);
}

void Reporter::Set(const std::string& key, const nlohmann::json& value) {
  doc_[key] = value;
}

void Reporter::Finish(int exit_code) {
  if (!json_) return;
  doc_["exit_code"] = exit_code;
  std::fprintf(out_, "%s\n", doc_.dump(2).c_str());
  std::fflush(out_);
}

}  // namespace bgctl
