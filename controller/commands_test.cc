#include "controller/commands.h"

#include <catch2/catch.hpp>

using bgctl::ParseSteps;
using bgctl::RolloutConfig;
using bgctl::StepConfig;

TEST_CASE(
    "the steps flag takes weights with optional pauses, others from the config",
    "[commands]") {
  RolloutConfig configured;
  configured.steps = {{10, 30000, false}, {50, 30000, false}, {100, 0, false}};
  std::vector<StepConfig> steps;
  std::string err;
  REQUIRE(ParseSteps("10:5s,25:forever,100", configured, &steps, &err));
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].weight == 10);
  CHECK(steps[0].pause_ms == 5000);
  CHECK_FALSE(steps[0].pause_forever);
  CHECK(steps[1].weight == 25);
  CHECK(steps[1].pause_forever);
  CHECK(steps[2].weight == 100);
  CHECK(steps[2].pause_ms == 0);
  REQUIRE(ParseSteps("20,100", configured, &steps, &err));
  CHECK(steps[0].pause_ms == 30000);  // the configured first step's pause
  CHECK(steps[1].pause_ms == 30000);  // the configured second step's pause
}

TEST_CASE(
    "the steps flag rejects bad weights, order, pauses and a last step below "
    "100 with exact messages",
    "[commands]") {
  RolloutConfig configured;
  std::vector<StepConfig> steps;
  std::string err;
  CHECK_FALSE(ParseSteps("0,100", configured, &steps, &err));
  CHECK(err == "bad step \"0\": weights are integers 1-100");
  CHECK_FALSE(ParseSteps("10x,100", configured, &steps, &err));
  CHECK(err == "bad step \"10x\": weights are integers 1-100");
  CHECK_FALSE(ParseSteps("50,10,100", configured, &steps, &err));
  CHECK(err == "weights must increase: 10 after 50");
  CHECK_FALSE(ParseSteps("10,50", configured, &steps, &err));
  CHECK(err == "the last step must be 100");
  CHECK_FALSE(ParseSteps("10:5x,100", configured, &steps, &err));
  CHECK(err ==
        "bad duration \"5x\": expected a number and a unit (ms, s, m, h)");
}
