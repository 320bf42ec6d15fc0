#include "controller/output.h"

#include <stdio.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/fake_env.h"

namespace {

// A FILE* whose contents the test can read back.
class Capture {
 public:
  Capture() : file_(tmpfile()) { REQUIRE(file_ != nullptr); }
  ~Capture() { fclose(file_); }
  FILE* file() { return file_; }
  std::string Text() {
    fflush(file_);
    std::string out;
    rewind(file_);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), file_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  FILE* file_;
};

nlohmann::json OneDocument(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

TEST_CASE("a failure in json mode is one document with error and exit_code",
          "[output]") {
  bgctl::fake::FakeClock clock;
  Capture out, err;
  bgctl::Reporter r(&clock, /*json=*/true, out.file(), err.file());
  r.Event("started", "started v2");
  r.Error("the rollout driven by bgctl pid 7 was interrupted");
  r.Error("cannot write /x: No space left on device");
  r.Finish(1);
  r.Finish(1);  // only the first call prints
  nlohmann::json doc = OneDocument(out.Text());
  REQUIRE(doc.is_object());
  CHECK(doc["exit_code"] == 1);
  CHECK(doc["error"] == "cannot write /x: No space left on device");
  CHECK(doc["errors"].size() == 2);
  CHECK(doc["events"][0]["event"] == "started");
  CHECK(err.Text() ==
        "bgctl: the rollout driven by bgctl pid 7 was interrupted\n"
        "bgctl: cannot write /x: No space left on device\n");
}

TEST_CASE(
    "a failure without an Error names the status's last_error or the exit "
    "code, and a success prints the command's own result",
    "[output]") {
  bgctl::fake::FakeClock clock;
  {
    Capture out, err;
    bgctl::Reporter r(&clock, true, out.file(), err.file());
    r.Set("status",
          {{"phase", "rolled_back"}, {"last_error", "window 0: 30% 5xx"}});
    r.Finish(3);
    CHECK(OneDocument(out.Text())["error"] == "window 0: 30% 5xx");
  }
  {
    Capture out, err;
    bgctl::Reporter r(&clock, true, out.file(), err.file());
    r.Result(nlohmann::json::array({1, 2}));
    r.Finish(4);
    nlohmann::json doc = OneDocument(out.Text());
    CHECK(doc["error"] == "exit code 4");
    CHECK(doc["exit_code"] == 4);
  }
  {
    Capture out, err;
    bgctl::Reporter r(&clock, true, out.file(), err.file());
    r.Result(nlohmann::json::array({1, 2}));
    r.Finish(0);
    CHECK(OneDocument(out.Text()) == nlohmann::json::array({1, 2}));
  }
}

TEST_CASE("text that is not UTF-8 never stops the document", "[output]") {
  bgctl::fake::FakeClock clock;
  Capture out, err;
  bgctl::Reporter r(&clock, true, out.file(), err.file());
  r.Event("hook", "hook passed", {{"output", "bad \xFF\xFE bytes"}});
  r.Finish(0);
  nlohmann::json doc = OneDocument(out.Text());
  REQUIRE(doc.is_object());
  CHECK(doc["events"][0]["output"] == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST_CASE("a notice reaches stderr at once in json mode, stdout in text mode",
          "[output]") {
  bgctl::fake::FakeClock clock;
  {
    Capture out, err;
    bgctl::Reporter r(&clock, true, out.file(), err.file());
    r.Notice("lock_wait", "waiting up to 5m for the lock held by bgctl pid 9",
             {{"holder_pid", 9}});
    CHECK(err.Text() ==
          "bgctl: waiting up to 5m for the lock held by bgctl pid 9\n");
    CHECK(out.Text() == "");
    r.Finish(0);
    CHECK(OneDocument(out.Text())["events"][0]["holder_pid"] == 9);
  }
  {
    Capture out, err;
    bgctl::Reporter r(&clock, false, out.file(), err.file());
    r.Notice("lock_wait", "waiting");
    CHECK(out.Text() == "[   0.000s] waiting\n");
    CHECK(err.Text() == "");
  }
}
