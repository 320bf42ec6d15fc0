// What bgctl.yaml may name where bgctl writes as root or fills a path:
// metrics.textfile's folder and name, systemd's unit folder and template,
// and versions (issue 16, item 7). Each is refused at load with
// file:line: key, so nothing is ever written.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "controller/config.h"
#include "controller/names.h"
#include "controller/state.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

const char kCommand[] = "  command: [app, --port, \"{port}\"]\n";

// The required keys, with `backend` as the backend's keys (from line 11 on)
// and `extra` at the end.
std::string Yaml(const std::string& backend, const std::string& extra) {
  return "service: demo\n"                                          // 1
         "nginx:\n"                                                 // 2
         "  upstream_file: run/upstream.conf\n"                     // 3
         "  upstream_name: demo_backend\n"                          // 4
         "  test_command: [nginx, -t]\n"                            // 5
         "  reload_command: [nginx, -s, reload]\n"                  // 6
         "  access_log: run/access.log\n"                           // 7
         "  probe_url: http://127.0.0.1:8080/__bgctl/generation\n"  // 8
         "slots: {blue: {port: 8081}, green: {port: 8082}}\n"       // 9
         "backend:\n" +                                             // 10
         backend +
         extra;
}

std::string ErrorOf(const std::string& text, const std::string& path) {
  Config config;
  std::string err;
  return ParseConfig(text, path, &config, &err) ? "(no error)" : err;
}

TEST_CASE(
    "a metrics.textfile reached through a symbolic link to a folder is "
    "refused with file, line and key",
    "[config]") {
  testing::TempDir tmp;
  REQUIRE(tmp.ok());
  const std::string real = tmp.path() + "/real", link = tmp.path() + "/link";
  REQUIRE(std::filesystem::create_directory(real));
  REQUIRE(symlink(real.c_str(), link.c_str()) == 0);
  const std::string yaml = tmp.path() + "/bgctl.yaml";
  CHECK(
      ErrorOf(Yaml(kCommand, "metrics: {textfile: link/demo.prom}\n"), yaml) ==
      yaml +
          ":12: metrics.textfile: \"link/demo.prom\" is reached through "
          "the symbolic link " +
          link + ": name the real folder (bgctl never writes through a link)");
  // A link further up the path counts the same; the real folder is fine.
  REQUIRE(std::filesystem::create_directory(real + "/sub"));
  CHECK(
      ErrorOf(Yaml(kCommand, "metrics: {textfile: " + link + "/sub/d.prom}\n"),
              yaml)
          .find(yaml + ":12: metrics.textfile: ") == 0);
  CHECK(ErrorOf(Yaml(kCommand, "metrics: {textfile: real/sub/demo.prom}\n"),
                yaml) == "(no error)");
}

TEST_CASE("a metrics.textfile with a newline in its name is refused",
          "[config]") {
  CHECK(ErrorOf(
            Yaml(kCommand, "metrics: {textfile: \"/var/lib/x/a\\nb.prom\"}\n"),
            "/srv/bgctl.yaml") ==
        "/srv/bgctl.yaml:12: metrics.textfile: has a control character (a "
        "newline, a tab, ...) in it: use a plain file name");
  CHECK(ErrorOf(
            Yaml(kCommand, "metrics: {textfile: \"/var/lib/x/a\\tb.prom\"}\n"),
            "/srv/bgctl.yaml")
            .find("/srv/bgctl.yaml:12: metrics.textfile: has a control") == 0);
}

TEST_CASE(
    "a systemd template or target systemd would not load, or that reads as "
    "an option, is refused",
    "[config][systemd_unit]") {
  auto systemd = [](const std::string& key_value) {
    return Yaml(std::string(kCommand) + "  runner: systemd\n  systemd: {" +
                    key_value + "}\n",
                "");
  };
  for (const std::string bad : {".@.service", "..@.service", ".hidden@.service",
                                "-x@.service", "@.service"})
    CHECK(ErrorOf(systemd("template: \"" + bad + "\""), "/s/bgctl.yaml") ==
          "/s/bgctl.yaml:13: backend.systemd.template: invalid template unit "
          "\"" +
              bad +
              "\": expected NAME@.service, NAME of A-Z a-z 0-9 . _ - not "
              "starting with . or -");
  CHECK(ErrorOf(systemd("wanted_by: \".target\""), "/s/bgctl.yaml")
            .find("/s/bgctl.yaml:13: backend.systemd.wanted_by: invalid") == 0);
  CHECK(ErrorOf(systemd("wanted_by: \"..target\""), "/s/bgctl.yaml")
            .find("/s/bgctl.yaml:13: backend.systemd.wanted_by: invalid") == 0);
  // A dot inside the name is a name systemd loads.
  CHECK(ErrorOf(Yaml("  runner: systemd\n  systemd: {template: "
                     "my.app@.service}\n",
                     ""),
                "/s/bgctl.yaml") == "(no error)");
}

TEST_CASE("a systemd unit_dir with a .. component is refused",
          "[config][systemd_unit]") {
  for (const std::string bad :
       {"/etc/systemd/system/..", "/etc/systemd/../../tmp/x", "/../etc"})
    CHECK(ErrorOf(Yaml(std::string(kCommand) +
                           "  runner: systemd\n  systemd: {unit_dir: " + bad +
                           "}\n",
                       ""),
                  "/s/bgctl.yaml") ==
          "/s/bgctl.yaml:13: backend.systemd.unit_dir: \"" + bad +
              "\" has a .. component: name the folder itself (bgctl writes "
              "units there as root)");
  CHECK(ErrorOf(Yaml(std::string(kCommand) +
                         "  runner: systemd\n  systemd: {unit_dir: "
                         "/etc/systemd/system/..d}\n",
                     ""),
                "/s/bgctl.yaml") == "(no error)");
}

TEST_CASE("the versions . and .. are refused wherever a version is accepted",
          "[config]") {
  std::string err;
  for (const std::string bad : {".", ".."}) {
    CHECK_FALSE(ValidateVersion(bad, &err));
    CHECK(err == "invalid version \"" + bad +
                     "\": use 1-64 characters of A-Z a-z 0-9 . _ -, not . "
                     "or ..");
  }
  CHECK(ValidateVersion("...", &err));
  CHECK(ValidateVersion(".v1", &err));
  // state.json: a slot's or the previous version.
  State s;
  s.phase = Phase::kPromoted;
  s.stable_slot = "blue";
  s.blue.version = "v1";
  s.previous_slot = "green";
  s.previous_version = "..";
  State back;
  CHECK_FALSE(StateFromJson(StateToJson(s), &back, &err));
  CHECK(err == "version \"..\" is not a valid version");
  s.previous_version = "v0";
  s.green.version = ".";
  CHECK_FALSE(StateFromJson(StateToJson(s), &back, &err));
  CHECK(err == "version \".\" is not a valid version");
}

}  // namespace
}  // namespace bgctl
