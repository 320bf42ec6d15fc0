#include "controller/steps.h"

#include <catch2/catch.hpp>

using bgctl::ParseStepsFlag;
using bgctl::RolloutConfig;
using bgctl::StepConfig;
using bgctl::StepProblem;

TEST_CASE(
    "the steps flag takes weights with optional pauses, others from the config",
    "[steps]") {
  RolloutConfig configured;
  configured.steps = {{10, 30000, false}, {50, 30000, false}, {100, 0, false}};
  std::vector<StepConfig> steps;
  std::string err;
  REQUIRE(ParseStepsFlag("10:5s,25:forever,100", configured, &steps, &err));
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].weight == 10);
  CHECK(steps[0].pause_ms == 5000);
  CHECK_FALSE(steps[0].pause_forever);
  CHECK(steps[1].weight == 25);
  CHECK(steps[1].pause_forever);
  CHECK(steps[2].weight == 100);
  CHECK(steps[2].pause_ms == 0);
  REQUIRE(ParseStepsFlag("20,60,100", configured, &steps, &err));
  CHECK(steps[0].pause_ms == 30000);  // the configured first step's pause
  CHECK(steps[1].pause_ms == 30000);  // the configured second step's pause
  CHECK(steps[2].pause_ms == 0);      // the configured 100% step's
}

TEST_CASE(
    "with --steps 10:5s,100 the 100% step takes the configured 100% step's "
    "pause, not the pause of the configured step at its position",
    "[steps]") {
  RolloutConfig configured;
  configured.steps = {{10, 30000, false}, {50, 30000, false}, {100, 0, false}};
  std::vector<StepConfig> steps;
  std::string err;
  REQUIRE(ParseStepsFlag("10:5s,100", configured, &steps, &err));
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].pause_ms == 5000);
  CHECK(steps[1].weight == 100);
  CHECK(steps[1].pause_ms == 0);
  CHECK_FALSE(steps[1].pause_forever);
  // A step before 100% never takes the configured 100% step's pause.
  configured.steps = {{50, 0, false}, {100, 10000, false}};
  REQUIRE(ParseStepsFlag("10,25,100", configured, &steps, &err));
  CHECK(steps[0].pause_ms == 0);
  CHECK(steps[1].pause_ms == 0);
  CHECK(steps[2].pause_ms == 10000);
}

TEST_CASE(
    "the steps flag rejects bad weights, order, pauses, an empty list and a "
    "last step below 100 with the config's messages",
    "[steps]") {
  RolloutConfig configured;
  std::vector<StepConfig> steps;
  std::string err;
  CHECK_FALSE(ParseStepsFlag("0,100", configured, &steps, &err));
  CHECK(err == "step 1 (\"0\"): must be between 1 and 100");
  CHECK_FALSE(ParseStepsFlag("10x,100", configured, &steps, &err));
  CHECK(err == "step 1 (\"10x\"): expected a weight (an integer 1-100)");
  CHECK_FALSE(ParseStepsFlag(" 10,100", configured, &steps, &err));
  CHECK(err == "step 1 (\" 10\"): expected a weight (an integer 1-100)");
  CHECK_FALSE(ParseStepsFlag("50,10,100", configured, &steps, &err));
  CHECK(err ==
        "step 2 (\"10\"): must be greater than the previous step's weight "
        "(50)");
  CHECK_FALSE(ParseStepsFlag("10,50", configured, &steps, &err));
  CHECK(err == "step 2 (\"50\"): the last step must have weight 100 (got 50)");
  CHECK_FALSE(ParseStepsFlag("10:5x,100", configured, &steps, &err));
  CHECK(err ==
        "step 1 (\"10:5x\"): bad duration \"5x\": expected a number and a "
        "unit (ms, s, m, h)");
  CHECK_FALSE(ParseStepsFlag("", configured, &steps, &err));
  CHECK(err == "step 1 (\"\"): expected a weight (an integer 1-100)");
  CHECK_FALSE(ParseStepsFlag("10,,100", configured, &steps, &err));
  CHECK(err == "step 2 (\"\"): expected a weight (an integer 1-100)");
}

TEST_CASE("one rule judges a step list wherever it comes from", "[steps]") {
  std::vector<StepConfig> steps = {{10, 0, false}, {10, 0, false}};
  CHECK(StepProblem(steps, 0) == "");
  CHECK(StepProblem(steps, 1) ==
        "must be greater than the previous step's weight (10)");
  steps = {{100, 0, false}};
  CHECK(StepProblem(steps, 0) == "");
  steps = {{101, 0, false}};
  CHECK(StepProblem(steps, 0) == "must be between 1 and 100");
}
