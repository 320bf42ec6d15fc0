// End-to-end: what bgctl.yaml and the command line may name where bgctl
// writes as root or fills a path (issue 16, item 7). The real bgctl binary
// exits 2 with file:line: key (or the flag) before it writes anything: no
// state folder, no unit file, no process started.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "tests/support/e2e.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using namespace bgctl::testing;  // NOLINT: test helpers
namespace fs = std::filesystem;

namespace {

// The service's bgctl.yaml with `extra` appended, as bad.yaml.
std::string BadConfig(Service* svc, const std::string& extra) {
  const std::string path = svc->dir() + "/bad.yaml";
  WriteWholeFile(path, ReadWholeFile(svc->config_path()) + extra);
  return path;
}

}  // namespace

TEST_CASE(
    "the versions . and .. are refused with exit 2 before anything is "
    "written or started",
    "[validation_e2e]") {
  Service svc;
  std::string err;
  REQUIRE(svc.Start(ServiceOptions(), &err));
  for (const std::string v : {".", ".."}) {
    CommandResult r = svc.Bgctl({"deploy", "--version", v});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "bgctl: invalid version \"" + v +
                       "\": use 1-64 characters of A-Z a-z 0-9 . _ -, not . "
                       "or ..\n");
  }
  CHECK_FALSE(fs::exists(svc.dir() + "/state"));
  CHECK(svc.BackendPids(svc.blue()).empty());
}

TEST_CASE(
    "a metrics.textfile in a symlinked folder or with a newline in its name "
    "is exit 2 naming file, line and key, for validate and deploy, with "
    "nothing written",
    "[validation_e2e]") {
  Service svc;
  std::string err;
  REQUIRE(svc.Start(ServiceOptions(), &err));
  const std::string real = svc.dir() + "/prom", link = svc.dir() + "/prom-link";
  REQUIRE(fs::create_directory(real));
  REQUIRE(symlink(real.c_str(), link.c_str()) == 0);
  struct Case {
    std::string extra;  // appended to bgctl.yaml
    std::string where;  // the start of the error
  };
  // The appended line's number.
  const std::string base = ReadWholeFile(svc.config_path());
  const std::string lines =
      std::to_string(std::count(base.begin(), base.end(), '\n') + 1);
  const std::string bad = svc.dir() + "/bad.yaml";
  for (const Case& c : std::vector<Case>{
           {"metrics: {textfile: prom-link/svc.prom}\n",
            bad + ":" + lines +
                ": metrics.textfile: \"prom-link/svc.prom\" "
                "is reached through the symbolic link " +
                link},
           {"metrics: {textfile: \"prom/a\\nb.prom\"}\n",
            bad + ":" + lines + ": metrics.textfile: has a control character"},
       }) {
    const std::string config = BadConfig(&svc, c.extra);
    for (const char* command : {"validate", "deploy"}) {
      std::vector<std::string> args = {command};
      if (std::string(command) == "deploy")
        args = {"deploy", "--version", "v1"};
      CommandResult r = svc.Bgctl(args, config);
      INFO(command << ": " << r.out << r.err);
      CHECK(r.exit_code == 2);
      CHECK(r.err.rfind("bgctl: " + c.where, 0) == 0);
    }
  }
  CHECK_FALSE(fs::exists(svc.dir() + "/state"));
  CHECK(fs::is_empty(real));
  CHECK(svc.BackendPids(svc.blue()).empty());
}
