// A new user's first hour (issue 17), end to end: the .deb this build
// packages (scripts/package.sh --from, ctest's package_build), unpacked; a
// Debian-style nginx in a prefix (nginx.conf including modules-enabled/,
// which loads the Lua module with Debian's own lines, and sites-enabled/,
// whose site proxies a live backend with `include proxy_params;`), serving
// that backend under keep-alive load; `bgctl init` with the unpacked binary;
// the printed lines put in exactly as printed; nginx reloaded once;
// `validate`; two deploys. Not one request may fail from the first `init`
// to the end of the second deploy.
//
// Hidden from the plain test run: ctest's first_hour_deb test runs it with
// BGCTL_DEB_DIR set to the folder package_build wrote the .deb into, so it
// never runs on a package older than the build.
#include <glob.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/adoption.h"
#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// The one bgctl_*.deb in `dir`, or "".
std::string FindDeb(const std::string& dir) {
  glob_t g;
  std::string found;
  if (glob((dir + "/bgctl_*.deb").c_str(), 0, nullptr, &g) == 0 &&
      g.gl_pathc == 1)
    found = g.gl_pathv[0];
  globfree(&g);
  return found;
}

// Debian's layout in `prefix`: nginx.conf as Debian ships it (paths made
// the prefix's, no `user`: the test runs nginx as itself), the module
// lines of libnginx-mod-http-ndk and -lua in modules-enabled/ (relative
// to nginx's prefix, whose modules/ is Debian's symlink), proxy_params, and
// one site in sites-enabled/ proxying 127.0.0.1:current.
bool WriteDebianNginx(const std::string& prefix, int port, int current) {
  for (const char* d : {"/modules-enabled", "/sites-enabled"})
    mkdir((prefix + d).c_str(), 0755);
  symlink("/usr/lib/nginx/modules", (prefix + "/modules").c_str());
  return WriteWholeFile(prefix + "/modules-enabled/10-mod-http-ndk.conf",
                        "load_module modules/ndk_http_module.so;\n") &&
         WriteWholeFile(prefix + "/modules-enabled/50-mod-http-lua.conf",
                        "load_module modules/ngx_http_lua_module.so;\n") &&
         WriteWholeFile(prefix + "/proxy_params",
                        ReadWholeFile("/etc/nginx/proxy_params")) &&
         WriteWholeFile(prefix + "/nginx.conf",
                        "worker_processes 2;\n"
                        "pid logs/nginx.pid;\n"
                        "error_log logs/error.log;\n"
                        "include " +
                            prefix +
                            "/modules-enabled/*.conf;\n\n"
                            "events {\n\tworker_connections 768;\n}\n\n"
                            "http {\n"
                            "\tsendfile on;\n\ttcp_nopush on;\n"
                            "\ttypes_hash_max_size 2048;\n"
                            "\tdefault_type application/octet-stream;\n"
                            "\tclient_body_temp_path tmp/client_body;\n"
                            "\tproxy_temp_path tmp/proxy;\n"
                            "\tfastcgi_temp_path tmp/fastcgi;\n"
                            "\tuwsgi_temp_path tmp/uwsgi;\n"
                            "\tscgi_temp_path tmp/scgi;\n"
                            "\taccess_log logs/access.log;\n"
                            "\tgzip on;\n"
                            "\tinclude " +
                            prefix + "/sites-enabled/*;\n}\n") &&
         WriteWholeFile(prefix + "/sites-enabled/app",
                        "server {\n"
                        "\tlisten 127.0.0.1:" +
                            std::to_string(port) +
                            ";\n"
                            "\tserver_name app.example;\n"
                            "\tlocation / {\n"
                            "\t\tinclude proxy_params;\n"
                            "\t\tproxy_pass http://127.0.0.1:" +
                            std::to_string(current) +
                            ";\n"
                            "\t}\n"
                            "}\n");
}

// Runs one of init's "next" lines: commands joined by " && ", arguments by
// spaces (none of them quoted here).
bool RunNext(const std::string& line, std::string* out) {
  size_t start = 0;
  for (;;) {
    const size_t end = line.find(" && ", start);
    std::vector<std::string> argv;
    const std::string cmd = line.substr(start, end - start);
    for (size_t i = 0; i < cmd.size();) {
      size_t j = cmd.find(' ', i);
      if (j == std::string::npos) j = cmd.size();
      if (j > i) argv.push_back(cmd.substr(i, j - i));
      i = j + 1;
    }
    CommandResult r = RunCommand(argv, 20000);
    *out += r.out + r.err;
    if (r.exit_code != 0) return false;
    if (end == std::string::npos) return true;
    start = end + 4;
  }
}

}  // namespace

TEST_CASE(
    "a new user's first hour: the unpacked .deb adopts a live site of a "
    "Debian-style nginx with the Lua module on the lua switch, and not one "
    "keep-alive request fails from init to the end of the second deploy",
    "[.first_hour]") {
  std::string why;
  if (!NginxFixture::LuaAvailable(&why)) BGCTL_SKIP(why);
  const char* deb_dir = std::getenv("BGCTL_DEB_DIR");
  if (!deb_dir)
    BGCTL_SKIP(
        "BGCTL_DEB_DIR is not set: ctest's first_hour_deb runs this "
        "on the .deb package_build made of this build");
  const std::string deb = FindDeb(deb_dir);
  INFO("the package in " << deb_dir);
  REQUIRE(!deb.empty());
  TempDir pkg;
  REQUIRE(pkg.ok());
  chmod(pkg.path().c_str(), 0755);  // nginx's workers (nobody) read bgctl.lua
  REQUIRE(
      RunCommand({"dpkg-deb", "-x", deb, pkg.Path("root")}, 30000).exit_code ==
      0);
  const std::string bgctl = pkg.Path("root/usr/bin/bgctl");

  Service svc;
  int current = 0;
  ChildProcess today;
  std::string err;
  const bool started =
      StartSiteBefore(svc, &today, &current, WriteDebianNginx, &err);
  INFO(err);
  REQUIRE(started);
  const std::string prefix = svc.nginx().prefix();
  chmod(prefix.c_str(), 0755);

  // Every client on keep-alive, as browsers are (Debian's nginx keeps
  // client keep-alive on, 75 s), and like them it does not reuse a
  // connection nginx closed while idle (LoadOptions::check_reuse): the one
  // reload that takes in init's lines retires nginx's workers, which close
  // their idle keep-alive connections.
  LoadOptions load_options = SteadyLoad(svc.port(), 150);
  load_options.keep_alive_share = 1.0;
  load_options.check_reuse = true;
  LoadGenerator load(load_options);
  load.Start();
  const std::string etc = svc.dir() + "/etc/bgctl/app";
  std::vector<std::string> argv = {bgctl};
  for (const std::string& a :
       InitArgs(svc, etc, svc.dir() + "/var/lib/bgctl/app",
                prefix + "/logs/app.bgctl.log"))
    argv.push_back(a);
  CommandResult init = RunCommand(argv, 30000);
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
  const json plan = json::parse(init.out);
  CHECK(plan["switch"] == "lua");
  CHECK(plan["warnings"].empty());
  for (const json& e : plan["edits"]) CHECK(e["block"] != "main");
  CHECK(ReadWholeFile(etc + "/nginx/bgctl_lua.conf")
            .find("lua_package_path \"" + pkg.path() +
                  "/root/usr/share/bgctl/nginx/lua/?.lua;;\";") !=
        std::string::npos);
  REQUIRE(ApplyInitEdits(plan["edits"], &err));
  std::string output;
  INFO(ReadWholeFile(prefix + "/nginx.conf")
       << ReadWholeFile(prefix + "/sites-enabled/app"));
  REQUIRE(RunNext(plan["next"][0], &output));
  REQUIRE(WaitFor([&] { return svc.Get("/__bgctl/generation") == "0"; }, 5000));
  auto run = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {bgctl, "-c", plan["config"]};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 60000);
  };
  CommandResult valid = run({"validate"});
  INFO(valid.out << valid.err);
  CHECK(valid.exit_code == 0);
  CHECK(valid.out.find("warning") == std::string::npos);
  CommandResult v1 = run({"deploy", "--version", "v1"});
  INFO(v1.out << v1.err);
  REQUIRE(v1.exit_code == 0);
  CHECK(v1.out.find("the backend that served before bgctl gets no traffic "
                    "from nginx now; 127.0.0.1:" +
                    std::to_string(current) + " still answers") !=
        std::string::npos);
  CommandResult v2 =
      run({"deploy", "--version", "v2", "--steps", "10:1s,50:1s,100"});
  INFO(v2.out << v2.err);
  REQUIRE(v2.exit_code == 0);
  const LoadReport report = load.Stop();
  INFO(Failures(report));
  CHECK(report.sent >= 300);  // load ran the whole time, 150 req/s
  CHECK(report.errors == 0);
  CHECK(report.non2xx == 0);
  CHECK(report.per_version.count("v0") == 1);
  CHECK(report.per_version.count("v1") == 1);
  CHECK(report.per_version.count("v2") == 1);
  CHECK(VersionOf(svc.Get("/")) == "v2");
}
