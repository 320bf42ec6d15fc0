// What `bgctl rollback` says and leaves behind for `status` (issue 17,
// point 6): the version it returns to is the previous one, not a "canary",
// and an operator's rollback is no error.
#include <catch2/catch.hpp>

#include "controller/rollout_harness.h"

namespace bgctl {
namespace {

using namespace rollout_testing;  // NOLINT: the harness

TEST_CASE(
    "after bgctl rollback, status shows no last error and history keeps "
    "the operator's reason",
    "[rollout]") {
  World w;
  w.StartPromoted(/*previous_alive=*/true);
  std::string err;
  REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
  const State s = w.Saved();
  CHECK(s.phase == Phase::kRolledBack);
  CHECK(s.last_error == "");
  const std::string status = StatusText(s, w.cfg);
  CHECK_THAT(status, !Catch::Contains("last error"));
  CHECK_THAT(status, Catch::StartsWith("service demo: rolled_back\n"
                                       "stable: v1 in blue"));
  std::vector<HistoryEntry> h = w.History();
  REQUIRE(h.size() == 1);
  CHECK(h[0].reason == "rolled back by the operator");
  CHECK(h[0].reason_kind == "operator");
}

TEST_CASE(
    "rollback output calls the version it returns to the previous version, "
    "never the canary, whether it was kept or is started again",
    "[rollout]") {
  for (bool previous_alive : {true, false}) {
    World w;
    w.StartPromoted(previous_alive);
    std::string err;
    REQUIRE(Rollback(&w.ctx, &w.state, &err) == kExitOk);
    INFO(w.out.str());
    CHECK_THAT(w.out.str(), !Catch::Contains("canary"));
    CHECK_THAT(w.out.str(),
               Catch::Contains("traffic 100% on the previous version v1 "
                               "(blue) confirmed (generation 5, "));
    CHECK_THAT(w.out.str(), Catch::Contains("rolled back to v1 (blue)"));
  }
}

}  // namespace
}  // namespace bgctl
