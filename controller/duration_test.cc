#include "controller/duration.h"

#include <catch2/catch.hpp>

using bgctl::ParseDuration;

TEST_CASE("durations parse with every unit", "[duration]") {
  int64_t ms = -1;
  std::string err;
  REQUIRE(ParseDuration("250ms", &ms, &err));
  CHECK(ms == 250);
  REQUIRE(ParseDuration("5s", &ms, &err));
  CHECK(ms == 5000);
  REQUIRE(ParseDuration("1.5s", &ms, &err));
  CHECK(ms == 1500);
  REQUIRE(ParseDuration("2m", &ms, &err));
  CHECK(ms == 120000);
  REQUIRE(ParseDuration("1h", &ms, &err));
  CHECK(ms == 3600000);
  REQUIRE(ParseDuration("0s", &ms, &err));
  CHECK(ms == 0);
}

TEST_CASE("a duration without a known unit is rejected with its text",
          "[duration]") {
  int64_t ms = 0;
  std::string err;
  for (const char* bad : {"5", "5x", "s", "", "-1s", "1..2s", "ms5"}) {
    CHECK_FALSE(ParseDuration(bad, &ms, &err));
    CHECK(err == std::string("bad duration \"") + bad +
                     "\": expected a number and a unit (ms, s, m, h)");
  }
}

TEST_CASE("durations format the shortest exact way", "[duration]") {
  CHECK(bgctl::FormatDuration(250) == "250ms");
  CHECK(bgctl::FormatDuration(5000) == "5s");
  CHECK(bgctl::FormatDuration(120000) == "2m");
  CHECK(bgctl::FormatDuration(1500) == "1500ms");
  CHECK(bgctl::FormatDuration(0) == "0ms");
}
