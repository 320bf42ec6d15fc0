#include "controller/text.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using bgctl::ValidUtf8;

TEST_CASE("valid UTF-8 comes back unchanged", "[text]") {
  CHECK(ValidUtf8("") == "");
  CHECK(ValidUtf8("plain ascii\n\ttab") == "plain ascii\n\ttab");
  const std::string mixed =
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x80 \xF4\x8F\xBF\xBF";
  CHECK(ValidUtf8(mixed) == mixed);
  CHECK(ValidUtf8(std::string("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("each maximal bad sequence becomes one U+FFFD", "[text]") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(ValidUtf8("\xFF") == r);
  CHECK(ValidUtf8("a\xFF\xFE"
                  "b") == "a" + r + r + "b");
  CHECK(ValidUtf8("\x80") == r);                  // stray continuation
  CHECK(ValidUtf8("\xC3") == r);                  // truncated at the end
  CHECK(ValidUtf8("\xE2\x82") == r);              // truncated, 2 of 3
  CHECK(ValidUtf8("\xE2\x82x") == r + "x");       // cut short by ASCII
  CHECK(ValidUtf8("\xC0\xAF") == r + r);          // overlong '/'
  CHECK(ValidUtf8("\xE0\x80\xAF") == r + r + r);  // overlong, 3 bytes
  CHECK(ValidUtf8("\xED\xA0\x80") == r + r + r);  // a surrogate
  CHECK(ValidUtf8("\xF4\x90\x80\x80") == r + r + r + r);  // above U+10FFFF
  CHECK(ValidUtf8("\xF0\x9F\x9A") == r);                  // 3 of 4 bytes
}

TEST_CASE("sanitized text always dumps as JSON", "[text]") {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  bytes += "\xF0\x9F\x9A\xE2\x82";
  nlohmann::json raw = {{"t", bytes}};
  CHECK_THROWS(raw.dump());
  nlohmann::json clean = {{"t", ValidUtf8(bytes)}};
  std::string dumped = clean.dump();
  CHECK(nlohmann::json::parse(dumped)["t"] == ValidUtf8(bytes));
}
