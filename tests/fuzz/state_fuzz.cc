// libFuzzer target: state.json text through the parser LoadState uses
// (StateFromJson). A state that parses must save (StateToJson, dumped as
// SaveState does) and parse back to the same document.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/state.h"

namespace {

std::string Dump(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  bgctl::State state;
  std::string err;
  if (!bgctl::StateFromJson(j, &state, &err)) {
    if (err.empty()) std::abort();
    return 0;
  }
  const std::string saved = Dump(bgctl::StateToJson(state));
  nlohmann::json again = nlohmann::json::parse(saved, nullptr, false);
  bgctl::State reloaded;
  if (again.is_discarded() || !bgctl::StateFromJson(again, &reloaded, &err) ||
      Dump(bgctl::StateToJson(reloaded)) != saved)
    std::abort();
  bgctl::Config config;
  bgctl::StatusText(state, config);
  Dump(bgctl::StatusJson(state, config));
  return 0;
}
