// The lua switch's control key (control_key.h) on the fake file system.
#include "controller/control_key.h"

#include <catch2/catch.hpp>
#include <string>

#include "controller/fake_env.h"

namespace bgctl {
namespace {

using fake::FakeFileSystem;

const char kState[] = "/var/lib/bgctl/demo";
const char kPath[] = "/var/lib/bgctl/demo/control.key";

bool IsHex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_CASE(
    "a new control key is 64 hex digits from the kernel, written with mode "
    "0600 and read back",
    "[control_key]") {
  FakeFileSystem fs;
  ControlKey a, b, read;
  std::string err;
  REQUIRE(CreateControlKey(&fs, kState, &a, &err));
  CHECK(a.key.size() == 64);
  CHECK(IsHex(a.key));
  CHECK(a.hash == Sha1Hex(a.key));
  REQUIRE(fs.writes().size() == 1);
  CHECK(fs.writes()[0].path == kPath);
  CHECK(fs.writes()[0].mode == 0600);
  CHECK(fs.Contents(kPath) == a.key + "\n");
  REQUIRE(LoadControlKey(&fs, kState, &read, &err));
  CHECK(read.key == a.key);
  CHECK(read.hash == a.hash);
  REQUIRE(CreateControlKey(&fs, kState, &b, &err));
  CHECK(b.key != a.key);
}

TEST_CASE(
    "a key is created only where there is none, and an unreadable or "
    "malformed one is an error naming the file, never a new key",
    "[control_key]") {
  FakeFileSystem fs;
  ControlKey key, again;
  std::string err;
  REQUIRE(LoadOrCreateControlKey(&fs, kState, &key, &err));
  REQUIRE(LoadOrCreateControlKey(&fs, kState, &again, &err));
  CHECK(again.key == key.key);
  CHECK(fs.writes().size() == 1);

  fs.Fail(kPath, "Permission denied");
  CHECK_FALSE(LoadOrCreateControlKey(&fs, kState, &again, &err));
  CHECK(err ==
        "control key /var/lib/bgctl/demo/control.key: cannot read "
        "/var/lib/bgctl/demo/control.key: Permission denied");
  fs.Heal(kPath);
  fs.files[kPath] = "not a key\n";
  CHECK_FALSE(LoadOrCreateControlKey(&fs, kState, &again, &err));
  CHECK(err ==
        "control key /var/lib/bgctl/demo/control.key: not a key (64 hex "
        "digits expected); `bgctl rotate-key` writes a new one");
  CHECK(fs.writes().size() == 1);
  fs.files.erase(kPath);
  CHECK_FALSE(LoadControlKey(&fs, kState, &again, &err));
  CHECK(err ==
        "control key /var/lib/bgctl/demo/control.key: cannot read "
        "/var/lib/bgctl/demo/control.key: No such file or directory");
}

TEST_CASE("SHA-1 and the preview token match reference values",
          "[control_key]") {
  // FIPS 180-1's "abc"; Python's hashlib and hmac for the others.
  CHECK(Sha1Hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  const ControlKey key = ControlKeyOf(std::string(64, 'a'));
  CHECK(key.hash == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  CHECK(PreviewToken(key, "d-17") ==
        "07377b2479a21d7f75c5dd085577f47aa4558f7d");
  CHECK(PreviewToken(key, "d-18") != PreviewToken(key, "d-17"));
}

}  // namespace
}  // namespace bgctl
