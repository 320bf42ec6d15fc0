#include "controller/access_log.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "controller/log_follower.h"

namespace bgctl {
namespace {

// The lines nginx writes with nginx/'s `log_format bgctl escape=json`.
const char kLineCanary[] =
    R"({"msec":1763934000.123,"pid":4242,"method":"GET","uri":"/","status":200,"request_time":0.002,"upstream_addr":"127.0.0.1:8082","upstream_status":"200","upstream_response_time":"0.002","bytes_sent":215,"time":"2026-11-23T21:40:00+00:00"})";
const char kLineRetry[] =
    R"({"msec":1763934000.124,"pid":4242,"method":"POST","uri":"/","status":200,"request_time":0.010,"upstream_addr":"127.0.0.1:8082, 127.0.0.1:8081","upstream_status":"502, 200","upstream_response_time":"0.001, 0.009","bytes_sent":215,"time":"2026-11-23T21:40:00+00:00"})";
const char kLineNoUpstream[] =
    R"({"msec":1763934000.125,"pid":4242,"method":"GET","uri":"/x","status":502,"request_time":0.000,"upstream_addr":"-","upstream_status":"-","upstream_response_time":"-","bytes_sent":150,"time":"2026-11-23T21:40:00+00:00"})";

// A fresh folder, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bgctl-access-log-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

void Overwrite(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

std::vector<std::string> PollLines(LogFollower* f) {
  std::vector<std::string> lines;
  std::string err;
  REQUIRE(f->Poll([&](std::string_view l) { lines.emplace_back(l); }, &err));
  CHECK(err.empty());
  return lines;
}

using Lines = std::vector<std::string>;

// ---------------------------------------------------------------------------
// ParseLogLine

TEST_CASE("the three kinds of line nginx writes parse into their fields",
          "[access_log]") {
  LogRecord r;
  REQUIRE(ParseLogLine(kLineCanary, &r));
  CHECK(r.msec == 1763934000.123);
  CHECK(r.pid == 4242);
  CHECK(r.method == "GET");
  CHECK(r.uri == "/");
  CHECK(r.status == 200);
  CHECK(r.request_time_s == 0.002);
  CHECK(r.upstream_addr == "127.0.0.1:8082");
  CHECK(r.upstream_status == "200");
  CHECK(r.upstream_response_time == "0.002");
  CHECK(r.bytes_sent == 215);
  CHECK(r.time == "2026-11-23T21:40:00+00:00");

  REQUIRE(ParseLogLine(kLineRetry, &r));
  CHECK(r.method == "POST");
  CHECK(r.request_time_s == 0.010);
  CHECK(r.upstream_addr == "127.0.0.1:8082, 127.0.0.1:8081");
  CHECK(r.upstream_status == "502, 200");
  CHECK(r.upstream_response_time == "0.001, 0.009");

  REQUIRE(ParseLogLine(kLineNoUpstream, &r));
  CHECK(r.status == 502);
  CHECK(r.uri == "/x");
  CHECK(r.request_time_s == 0);
  CHECK(r.upstream_addr == "-");
  CHECK(r.upstream_status == "-");
  CHECK(r.bytes_sent == 150);
}

TEST_CASE(
    "keys may come in any order with whitespace and unknown keys of any type",
    "[access_log]") {
  LogRecord r;
  REQUIRE(ParseLogLine(
      R"( { "upstream_addr" : "127.0.0.1:8081" , "extra_obj": {"a": [1, "}", {"b": null}]},)"
      R"( "extra_arr": [true, false, "x\"]"], "extra_num": -1.5e3, "extra_str": "\\",)"
      "\t\"request_time\":\t1.25, \"extra_null\": null, \"status\": 504 }  ",
      &r));
  CHECK(r.upstream_addr == "127.0.0.1:8081");
  CHECK(r.request_time_s == 1.25);
  CHECK(r.status == 504);
  CHECK(r.upstream_status.empty());  // optional, absent
  CHECK(r.msec == 0);
}

TEST_CASE("escaped quotes and backslashes inside the uri do not break a line",
          "[access_log]") {
  LogRecord r;
  // What escape=json writes for the path  /a"b\  and a control character.
  REQUIRE(ParseLogLine(
      R"({"msec":1.5,"uri":"/a\"b\\","method":"GET\u0001","status":404,"request_time":0.001,"upstream_addr":"127.0.0.1:8081","upstream_status":"404"})",
      &r));
  CHECK(r.uri == R"(/a\"b\\)");
  CHECK(JsonUnescape(r.uri) == "/a\"b\\");
  CHECK(r.method == R"(GET\u0001)");
  CHECK(JsonUnescape(r.method) == std::string("GET\x01"));
  CHECK(r.status == 404);
  CHECK(r.upstream_addr == "127.0.0.1:8081");
  // A uri made of one escaped quote only, and one ending in a backslash.
  REQUIRE(ParseLogLine(
      R"({"uri":"\"","status":200,"request_time":0,"upstream_addr":"a:1"})",
      &r));
  CHECK(r.uri == R"(\")");
  REQUIRE(ParseLogLine(
      R"({"uri":"x\\\\","status":200,"request_time":0,"upstream_addr":"a:1"})",
      &r));
  CHECK(JsonUnescape(r.uri) == "x\\\\");
}

TEST_CASE("JsonUnescape decodes every JSON escape and keeps malformed ones",
          "[access_log]") {
  CHECK(JsonUnescape(R"(a\/b\n\t\r\b\f)") == "a/b\n\t\r\b\f");
  CHECK(JsonUnescape(R"(\u0041\u00e9\u20ac)") == "A\xc3\xa9\xe2\x82\xac");
  CHECK(JsonUnescape(R"(\u00zz \q \)") == R"(\u00zz \q \)");
  CHECK(JsonUnescape("plain") == "plain");
}

TEST_CASE("malformed lines are rejected", "[access_log]") {
  const std::string good_tail =
      R"("request_time":0.002,"upstream_addr":"127.0.0.1:8082"})";
  const std::vector<std::string> bad = {
      "",
      "   ",
      "GET / HTTP/1.1 200",
      "[1, 2]",
      "{}",
      R"({"status":200,)" + good_tail.substr(0, 30),      // cut short
      R"({"status":200,"request_time":0.002})",           // no upstream_addr
      R"({"request_time":0.002,"upstream_addr":"a:1"})",  // no status
      R"({"status":200,"upstream_addr":"a:1"})",          // no request_time
      R"({"status":"200",)" + good_tail,                  // quoted status
      R"({"status":,)" + good_tail,                       // empty $status
      R"({"status":200.5,)" + good_tail,                  // not an integer
      R"({"status":1000,)" + good_tail,                   // out of range
      R"({"status":-1,)" + good_tail,
      R"({"status":200,"request_time":-0.5,"upstream_addr":"a:1"})",
      R"({"status":200,"request_time":"0.1","upstream_addr":"a:1"})",
      R"({"status":200,"request_time":0.1,"upstream_addr":8082})",
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1)",  // unterminated
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1\"})",
      R"({"status":200,)" + good_tail + "x",  // trailing garbage
      R"({"status":200,)" + good_tail + "}",
      R"({"status":200 "request_time":0.1,"upstream_addr":"a:1"})",  // no comma
      R"({"status":200,,"request_time":0.1,"upstream_addr":"a:1"})",
      R"({"status" 200,"request_time":0.1,"upstream_addr":"a:1"})",
      R"({"status":200,"request_time":1.,"upstream_addr":"a:1"})",
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1","x":tru})",
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1","x":{"y":1})",
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1","bytes_sent":1.5})",
      R"({"status":200,"request_time":0.1,"upstream_addr":"a:1","pid":"4242"})",
  };
  for (const std::string& line : bad) {
    INFO("line: " << line);
    LogRecord r;
    CHECK_FALSE(ParseLogLine(line, &r));
  }
  LogRecord r;
  CHECK(ParseLogLine(R"({"status":200,)" + good_tail, &r));  // the control
}

TEST_CASE(
    "numbers beyond an integer field's range are rejected, in either key "
    "order (no out-of-range float-to-int conversion)",
    "[access_log]") {
  const std::string ordered_head = R"({"msec":1763934000.123,"pid":)";
  const std::string tail =
      R"(,"method":"GET","uri":"/","status":200,"request_time":0.002,)"
      R"("upstream_addr":"127.0.0.1:8082","upstream_status":"200",)"
      R"("upstream_response_time":"0.002","bytes_sent":215,)"
      R"("time":"2026-11-23T21:40:00+00:00"})";
  const std::string base = R"("request_time":0.1,"upstream_addr":"a:1")";
  const std::vector<std::string> bad = {
      R"({"status":1e308,)" + base + "}",
      R"({"status":-1e308,)" + base + "}",
      R"({"status":2147483648,)" + base + "}",
      R"({"status":200,"pid":1e30,)" + base + "}",
      R"({"status":200,"pid":-1e30,)" + base + "}",
      R"({"status":200,"pid":9223372036854775808,)" + base + "}",
      R"({"status":200,"bytes_sent":1e300,)" + base + "}",
      R"({"status":200,"bytes_sent":18446744073709551616,)" + base + "}",
      ordered_head + "1e30" + tail,
      ordered_head + "99999999999999999999" + tail,
  };
  for (const std::string& line : bad) {
    INFO("line: " << line);
    LogRecord r;
    CHECK_FALSE(ParseLogLine(line, &r));
  }
  LogRecord r;
  REQUIRE(ParseLogLine(
      R"({"status":2e2,"pid":1e6,"bytes_sent":9007199254740992,)" + base + "}",
      &r));
  CHECK(r.status == 200);
  CHECK(r.pid == 1000000);
  CHECK(r.bytes_sent == 9007199254740992);
  REQUIRE(ParseLogLine(ordered_head + "4242" + tail, &r));
  CHECK(r.pid == 4242);
}

// The same record, written in the shipped key order (the fast path) and
// reordered with spaces (the general path).
void CheckBothPaths(const std::string& status, const std::string& msec,
                    bool valid, int want_status = 0) {
  const std::string ordered =
      R"({"msec":)" + msec + R"(,"pid":4242,"method":"GET","uri":"/",)" +
      R"("status":)" + status +
      R"(,"request_time":0.002,"upstream_addr":"127.0.0.1:8082",)" +
      R"("upstream_status":"200","upstream_response_time":"0.002",)" +
      R"("bytes_sent":215,"time":"2026-11-23T21:40:00+00:00"})";
  const std::string reordered =
      std::string(
          R"({ "time": "2026-11-23T21:40:00+00:00", "bytes_sent": 215, )") +
      R"("upstream_response_time": "0.002", "upstream_status": "200", )" +
      R"("upstream_addr": "127.0.0.1:8082", "request_time": 0.002, )" +
      R"("status": )" + status +
      R"(, "uri": "/", "method": "GET", "pid": 4242, "msec": )" + msec + " }";
  LogRecord a, b;
  INFO("status " << status << ", msec " << msec);
  REQUIRE(ParseLogLine(ordered, &a) == valid);
  REQUIRE(ParseLogLine(reordered, &b) == valid);
  if (!valid) return;
  CHECK(a.status == want_status);
  CHECK(b.status == want_status);
  CHECK(a.msec == b.msec);
  CHECK(a.msec == std::stod(msec));
  CHECK(a.pid == b.pid);
  CHECK(a.request_time_s == b.request_time_s);
  CHECK(a.bytes_sent == b.bytes_sent);
  CHECK(a.method == b.method);
  CHECK(a.uri == b.uri);
  CHECK(a.upstream_addr == b.upstream_addr);
  CHECK(a.upstream_status == b.upstream_status);
  CHECK(a.upstream_response_time == b.upstream_response_time);
  CHECK(a.time == b.time);
}

TEST_CASE(
    "lines in the shipped key order get the same values and checks as any "
    "other",
    "[access_log]") {
  CheckBothPaths("200", "1763934000.123", true, 200);
  CheckBothPaths("2e2", "1763934000.123", true, 200);
  CheckBothPaths("999", "1763934000", true, 999);
  CheckBothPaths("0", "1763934000.1234567891", true, 0);
  CheckBothPaths("503", "1.763934000123E9", true, 503);
  CheckBothPaths("1000", "1763934000.123", false);
  CheckBothPaths("200.5", "1763934000.123", false);
  CheckBothPaths("-200", "1763934000.123", false);
  CheckBothPaths("200", "1763934000.", false);
  CheckBothPaths("200", "-", false);
  CheckBothPaths("", "1763934000.123", false);
}

TEST_CASE("numbers in exponent form and with many digits parse exactly",
          "[access_log]") {
  LogRecord r;
  REQUIRE(ParseLogLine(
      R"({"status":2e2,"request_time":1.5E-3,"upstream_addr":"a:1","msec":1763934000.1234567891})",
      &r));
  CHECK(r.status == 200);
  CHECK(r.request_time_s == 0.0015);
  CHECK(r.msec == 1763934000.1234567891);
}

// ---------------------------------------------------------------------------
// Upstream lists

TEST_CASE("upstream lists split on ', ' and on ' : ' between groups",
          "[access_log]") {
  auto entries = [](std::string_view list) {
    std::vector<std::string> out;
    UpstreamList l(list);
    std::string_view e;
    while (l.Next(&e)) out.emplace_back(e);
    return out;
  };
  CHECK(entries("127.0.0.1:8082") == Lines{"127.0.0.1:8082"});
  CHECK(entries("127.0.0.1:8082, 127.0.0.1:8081") ==
        Lines{"127.0.0.1:8082", "127.0.0.1:8081"});
  CHECK(entries("127.0.0.1:8082 : 127.0.0.1:8081, 127.0.0.1:8083") ==
        Lines{"127.0.0.1:8082", "127.0.0.1:8081", "127.0.0.1:8083"});
  CHECK(entries("502, 200 : 200") == Lines{"502", "200", "200"});
  CHECK(entries("[::1]:8082, [::1]:8081") == Lines{"[::1]:8082", "[::1]:8081"});
  CHECK(entries("-") == Lines{"-"});
  CHECK(entries("") == Lines{});
  CHECK(entries(" , ") == Lines{});
}

TEST_CASE("the port of the last upstream is found, 0 when there is none",
          "[access_log]") {
  CHECK(LastUpstreamPort("127.0.0.1:8082") == 8082);
  CHECK(LastUpstreamPort("127.0.0.1:8082, 127.0.0.1:8081") == 8081);
  CHECK(LastUpstreamPort("127.0.0.1:8081 : 127.0.0.1:8082") == 8082);
  CHECK(LastUpstreamPort("[::1]:8083") == 8083);
  CHECK(LastUpstreamPort("-") == 0);
  CHECK(LastUpstreamPort("") == 0);
  CHECK(LastUpstreamPort("demo_backend") == 0);  // "no live upstreams"
  CHECK(LastUpstreamPort("unix:/run/app.sock") == 0);
  CHECK(LastUpstreamPort("127.0.0.1:0") == 0);
  CHECK(LastUpstreamPort("127.0.0.1:65536") == 0);
  CHECK(LastUpstreamPort("127.0.0.1:65535") == 65535);
  CHECK(UpstreamPort("127.0.0.1:80x") == 0);
  CHECK(LastUpstreamStatus("502, 200") == 200);
  CHECK(LastUpstreamStatus("200 : 504") == 504);
  CHECK(LastUpstreamStatus("-") == 0);
  CHECK(LastUpstreamStatus("") == 0);
}

// ---------------------------------------------------------------------------
// LogFollower

TEST_CASE(
    "a follower reads a file from its start and keeps a partial last line "
    "until its newline arrives",
    "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "one\ntwo\npar");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, /*from_end=*/false, &err));
  CHECK(PollLines(&f) == Lines{"one", "two"});
  CHECK(f.caught_up());
  CHECK(PollLines(&f) == Lines{});
  Append(path, "tial");
  CHECK(PollLines(&f) == Lines{});
  Append(path, "\nfour\n");
  CHECK(PollLines(&f) == Lines{"partial", "four"});
  CHECK(f.lines() == 4);
  CHECK(f.bytes() == 21);
  CHECK(f.malformed() == 0);
}

TEST_CASE("a follower skips carriage returns and empty lines", "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "a\r\n\n\r\nb\n");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, false, &err));
  CHECK(PollLines(&f) == Lines{"a", "b"});
  CHECK(f.lines() == 2);
}

TEST_CASE(
    "a follower opened at the end skips what the file holds, including an "
    "unfinished line",
    "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "old1\nold2\nhalf");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, /*from_end=*/true, &err));
  CHECK(PollLines(&f) == Lines{});
  Append(path, "-rest\nnew\n");
  CHECK(PollLines(&f) == Lines{"new"});
  CHECK(f.malformed() == 0);
  CHECK(f.long_lines() == 0);

  // At the end of a file that ends with a newline, nothing is skipped.
  const std::string path2 = dir.Path("access2.log");
  Overwrite(path2, "old\n");
  LogFollower g;
  REQUIRE(g.Open(path2, true, &err));
  Append(path2, "new\n");
  CHECK(PollLines(&g) == Lines{"new"});
}

TEST_CASE("an empty file yields no lines until something is written",
          "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "");
  for (bool from_end : {false, true}) {
    LogFollower f;
    std::string err;
    REQUIRE(f.Open(path, from_end, &err));
    CHECK(PollLines(&f) == Lines{});
    CHECK(f.caught_up());
    CHECK(f.lines() == 0);
  }
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, true, &err));
  Append(path, "x\n");
  CHECK(PollLines(&f) == Lines{"x"});
}

TEST_CASE(
    "a missing file is waited for and read from its start once it appears",
    "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("logs/access.log");  // folder missing too
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, /*from_end=*/true, &err));
  CHECK(err.empty());
  CHECK(PollLines(&f) == Lines{});
  CHECK_FALSE(f.caught_up());
  std::filesystem::create_directory(dir.Path("logs"));
  CHECK(PollLines(&f) == Lines{});
  Append(path, "first\nsecond\n");
  CHECK(PollLines(&f) == Lines{"first", "second"});
  CHECK(f.caught_up());
}

TEST_CASE("a follower cannot follow a folder", "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("logs");
  std::filesystem::create_directory(path);
  LogFollower f;
  std::string err;
  CHECK_FALSE(f.Open(path, false, &err));
  CHECK(err == path + " is not a regular file");
}

TEST_CASE(
    "after a rotation the old file is finished, then the new one read from its "
    "start",
    "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "1\n2\n");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, false, &err));
  CHECK(PollLines(&f) == Lines{"1", "2"});

  // logrotate: rename, nginx still appends to the old file, then reopens.
  std::filesystem::rename(path, dir.Path("access.log.1"));
  Append(dir.Path("access.log.1"), "3\n");
  CHECK(PollLines(&f) == Lines{"3"});  // no new file yet: keep the old one
  Append(dir.Path("access.log.1"), "4\n");
  Overwrite(path, "5\n6\n");
  CHECK(PollLines(&f) == Lines{"4", "5", "6"});
  CHECK(f.rotations() == 1);
  Append(path, "7\n");
  CHECK(PollLines(&f) == Lines{"7"});
  CHECK(f.rotations() == 1);

  // An unfinished last line of the rotated file is dropped as malformed.
  Append(path, "8\nunfinish");
  CHECK(PollLines(&f) == Lines{"8"});
  std::filesystem::rename(path, dir.Path("access.log.2"));
  Overwrite(path, "9\n");
  CHECK(PollLines(&f) == Lines{"9"});
  CHECK(f.rotations() == 2);
  CHECK(f.malformed() == 1);
  CHECK(f.lines() == 9);
}

TEST_CASE("after a copytruncate the file is read again from its start",
          "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, "aaaa\nbbbb\npart");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, false, &err));
  CHECK(PollLines(&f) == Lines{"aaaa", "bbbb"});
  Overwrite(path, "c\n");  // same inode, shorter
  CHECK(PollLines(&f) == Lines{"c"});
  CHECK(f.truncations() == 1);
  CHECK(f.rotations() == 0);
  CHECK(f.malformed() == 1);  // "part" never got its newline
  Append(path, "d\n");
  CHECK(PollLines(&f) == Lines{"d"});
}

TEST_CASE("a line over 64 KiB is dropped and counted, without buffering it",
          "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  const std::string at_limit(LogFollower::kMaxLineBytes, 'a');
  const std::string over_limit(LogFollower::kMaxLineBytes + 1, 'b');
  Overwrite(path, "ok1\n" + at_limit + "\n" + over_limit + "\nok2\n");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, false, &err));
  std::vector<size_t> sizes;
  REQUIRE(f.Poll([&](std::string_view l) { sizes.push_back(l.size()); }, &err));
  CHECK(sizes == std::vector<size_t>{3, LogFollower::kMaxLineBytes, 3});
  CHECK(f.long_lines() == 1);
  CHECK(f.malformed() == 1);

  // A long line arriving over several polls, one larger than the buffer.
  Append(path, std::string(70 << 10, 'c'));
  CHECK(PollLines(&f) == Lines{});
  Append(path, std::string(3 << 20, 'c'));
  CHECK(PollLines(&f) == Lines{});
  Append(path, "ccc\nok3\n");
  CHECK(PollLines(&f) == Lines{"ok3"});
  CHECK(f.long_lines() == 2);
  CHECK(f.malformed() == 2);
  CHECK(f.lines() == 4);
}

TEST_CASE("the consumer's malformed lines are counted by the follower",
          "[access_log]") {
  TempDir dir;
  const std::string path = dir.Path("access.log");
  Overwrite(path, std::string(kLineCanary) + "\nnot json\n" + kLineRetry +
                      "\n" + "{\"status\":\n" + kLineNoUpstream + "\n");
  LogFollower f;
  std::string err;
  REQUIRE(f.Open(path, false, &err));
  int parsed = 0;
  REQUIRE(f.Poll(
      [&](std::string_view line) {
        LogRecord r;
        if (ParseLogLine(line, &r)) {
          parsed++;
        } else {
          f.CountMalformed();
        }
      },
      &err));
  CHECK(parsed == 3);
  CHECK(f.malformed() == 2);
  CHECK(f.lines() == 5);
}

}  // namespace
}  // namespace bgctl
