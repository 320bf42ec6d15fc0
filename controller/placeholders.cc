#include "controller/placeholders.h"

namespace bgctl {

std::vector<std::string> FillPlaceholders(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& vars) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& arg : argv) {
    std::string filled;
    size_t i = 0;
    while (i < arg.size()) {
      size_t open = arg.find('{', i);
      size_t close = open == std::string::npos ? open : arg.find('}', open);
      if (close == std::string::npos) {
        filled.append(arg, i, std::string::npos);
        break;
      }
      filled.append(arg, i, open - i);
      auto it = vars.find(arg.substr(open + 1, close - open - 1));
      if (it != vars.end()) {
        filled += it->second;
        i = close + 1;
      } else {
        filled += '{';  // not a placeholder: keep it, look again after '{'
        i = open + 1;
      }
    }
    out.push_back(filled);
  }
  return out;
}

}  // namespace bgctl
