// The live view's layout (watch.h): what `status --watch` and a deploy on a
// terminal draw.
#include "controller/watch.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace bgctl {
namespace {

Config WatchConfig() {
  Config c;
  c.service = "demo";
  c.blue_port = 18081;
  c.green_port = 18082;
  return c;
}

// A rollout at 10% with busy slots: the widest numbers a row shows.
WatchFrame BusyFrame(const std::string& canary_version) {
  WatchFrame f;
  f.state.phase = Phase::kProgressing;
  f.state.stable_slot = "blue";
  f.state.canary_slot = "green";
  f.state.canary_weight = 10;
  f.state.step_index = 0;
  f.state.step_count = 3;
  f.state.blue.version = "1.4.1";
  f.state.blue.instance.process.pid = 4194301;
  f.state.green.version = canary_version;
  f.state.green.instance.process.pid = 4194302;
  for (int i = 0; i < 20000; ++i) {
    f.blue.Add({true, false, false, true}, 1234);
    f.green.Add({true, i % 3 == 0, false, true}, 2345);
  }
  f.interval_ms = 1000;
  return f;
}

std::vector<std::string> SlotRows(const std::string& text) {
  std::vector<std::string> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  blue ", 0) == 0 || line.rfind("  green ", 0) == 0)
      rows.push_back(line);
  return rows;
}

}  // namespace

TEST_CASE(
    "status --watch fits an 80- and a 110-column terminal: no slot row "
    "wraps, and each keeps its weight, requests, 5xx and p99",
    "[watch]") {
  for (int width : {80, 110}) {
    WatchFrame f = BusyFrame("1.4.2");
    f.width = width;
    const std::vector<std::string> rows =
        SlotRows(RenderFrame(f, WatchConfig(), /*terminal=*/true));
    REQUIRE(rows.size() == 2);
    for (const std::string& row : rows) {
      INFO(width << ": " << row);
      CHECK(static_cast<int>(row.size()) < width);
      CHECK_THAT(row, Catch::Contains("req/s") && Catch::Contains("% 5xx") &&
                          Catch::Contains("p99") && Catch::Contains(" ms"));
      CHECK_THAT(row, Catch::Contains("["));  // the weight bar stays
    }
    CHECK_THAT(rows[1], Catch::Contains("  green canary  1.4.2"));
    CHECK_THAT(rows[1], Catch::Contains("  10%"));
  }
  // 110 columns keep the port; 80 drop port and pid.
  WatchFrame f = BusyFrame("1.4.2");
  f.width = 110;
  CHECK_THAT(RenderFrame(f, WatchConfig(), true),
             Catch::Contains("port 18082"));
  f.width = 80;
  CHECK_THAT(RenderFrame(f, WatchConfig(), true),
             !Catch::Contains("port 18082") && !Catch::Contains("pid "));
}

TEST_CASE(
    "on a terminal no line of the view is wider than the terminal: the "
    "evidence lines break at a space",
    "[watch]") {
  WatchFrame f = BusyFrame("1.4.2");
  f.state.last_error =
      "analysis: error rate: 3 of 6 canary requests 5xx (50.00%; null: <= "
      "0.01): evidence 1.04e+03 >= 400";
  f.width = 80;
  const std::string text = RenderFrame(f, WatchConfig(), /*terminal=*/true);
  std::istringstream in(text);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    INFO(line);
    CHECK(line.size() < 80);
  }
  CHECK(lines == 5);  // head, two slots, the last error on two lines
  CHECK_THAT(text, Catch::Contains("\n  last error: analysis: error rate: 3 "
                                   "of 6 canary requests 5xx (50.00%; null:\n"
                                   "    <= 0.01): evidence 1.04e+03 >= 400\n"));
}

TEST_CASE(
    "a long version is shortened with a ~ rather than wrap the row, and a "
    "wide terminal shows every column",
    "[watch]") {
  WatchFrame f =
      BusyFrame("2024.11.30-build.8f3a9c2e1b7d4f60a5e9c3b2d1f0e8a7c6b5a4");
  f.width = 80;
  std::vector<std::string> rows =
      SlotRows(RenderFrame(f, WatchConfig(), /*terminal=*/true));
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].size() < 80);
  CHECK_THAT(rows[1], Catch::StartsWith("  green canary  2024.11.30-") &&
                          Catch::Contains("~  10%"));
  f.width = 200;
  rows = SlotRows(RenderFrame(f, WatchConfig(), /*terminal=*/true));
  CHECK_THAT(rows[1], Catch::Contains("port 18082 pid 4194302") &&
                          Catch::Contains("[##..................]"));
}

}  // namespace bgctl
