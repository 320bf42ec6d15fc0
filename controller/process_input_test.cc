// ProcessRunner::RunWithInput: a command's stdin fed by bgctl (how
// controller/ssh writes a file on a host), real and fake.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "controller/fake_env.h"
#include "controller/process.h"

namespace bgctl {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

// SIGPIPE at its default (death) for the scope: tests/main.cc ignores it,
// and a write to a reader that has gone must not depend on that.
class DefaultSigpipe {
 public:
  DefaultSigpipe() {
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, &old_);
  }
  ~DefaultSigpipe() { sigaction(SIGPIPE, &old_, nullptr); }

 private:
  struct sigaction old_;
};

TEST_CASE(
    "RunWithInput gives the command its input byte for byte, then end "
    "of file",
    "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  const std::string awkward("a'b \"$(x)\";\n\0tail\n", 19);
  REQUIRE(runner->RunWithInput({"cat"}, "", awkward, 5000, &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output == awkward);
  // More than any pipe or socket buffer, read while the output is collected.
  const std::string big(3 << 20, 'x');
  REQUIRE(runner->RunWithInput({"wc", "-c"}, "", big, 10000, &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output == std::to_string(big.size()) + "\n");
  REQUIRE(runner->RunWithInput({"cat"}, "", "", 5000, &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output.empty());
}

TEST_CASE(
    "RunWithInput to a command that never reads its input ends with "
    "the command and raises no SIGPIPE in bgctl",
    "[process]") {
  DefaultSigpipe dfl;
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  const std::string big(8 << 20, 'y');
  int64_t start = NowMs();
  REQUIRE(runner->RunWithInput({"/bin/sh", "-c", "exit 4"}, "", big, 5000, &out,
                               &err));
  CHECK(out.exit_code == 4);
  CHECK_FALSE(out.timed_out);
  REQUIRE(runner->RunWithInput({"head", "-c", "5"}, "", big, 5000, &out, &err));
  CHECK(out.exit_code == 0);
  CHECK(out.output == "yyyyy");
  CHECK(NowMs() - start < 3000);
}

TEST_CASE("RunWithInput still times out a command that does not read",
          "[process]") {
  ProcessRunner* runner = RealProcessRunner();
  RunResult out;
  std::string err;
  int64_t start = NowMs();
  REQUIRE(runner->RunWithInput({"sleep", "30"}, "", std::string(4 << 20, 'z'),
                               300, &out, &err));
  CHECK(out.timed_out);
  CHECK(out.exit_code == -1);
  CHECK(NowMs() - start < 2000);
}

TEST_CASE(
    "the fake ProcessRunner records RunWithInput's input and answers "
    "as for Run",
    "[process]") {
  fake::FakeProcessRunner runner;
  runner.Script("ssh", RunResult{0, false, "done"});
  RunResult out;
  std::string err;
  REQUIRE(
      runner.RunWithInput({"ssh", "h", "cat"}, "/w", "data", 1000, &out, &err));
  REQUIRE(runner.Run({"ssh", "h", "true"}, "", 1000, &out, &err));
  CHECK(out.output == "done");
  REQUIRE(runner.runs().size() == 2);
  CHECK(runner.runs()[0].stdin_data == "data");
  CHECK(runner.runs()[0].workdir == "/w");
  CHECK(runner.runs()[1].stdin_data.empty());
}

}  // namespace
}  // namespace bgctl
