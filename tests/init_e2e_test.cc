// End-to-end: `bgctl init` against a real nginx running a user's own
// configuration (nginx.conf including sites/app.conf, whose location proxies
// a backend on a port of its own), the printed lines put in, nginx
// reloaded, `bgctl validate`, then deploys through that nginx.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/adoption.h"
#include "tests/support/e2e.h"
#include "tests/support/ports.h"
#include "tests/support/process_guard.h"
#include "tests/support/service.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using namespace bgctl::testing;  // NOLINT: test helpers

namespace {

// A user's nginx: the main file includes sites/*.conf; the app's server has
// a location that proxies 127.0.0.1:current and one that does not.
bool WriteUserNginx(const std::string& prefix, int port, int current) {
  mkdir((prefix + "/sites").c_str(), 0755);
  return WriteWholeFile(prefix + "/nginx.conf",
                        "worker_processes 2;\n"
                        "pid logs/nginx.pid;\n"
                        "error_log logs/error.log;\n"
                        "events {\n    worker_connections 256;\n}\n"
                        "http {\n"
                        "    client_body_temp_path tmp/client_body;\n"
                        "    proxy_temp_path tmp/proxy;\n"
                        "    fastcgi_temp_path tmp/fastcgi;\n"
                        "    uwsgi_temp_path tmp/uwsgi;\n"
                        "    scgi_temp_path tmp/scgi;\n"
                        "    keepalive_timeout 0;\n"
                        "    access_log logs/main.log;\n"
                        "    include sites/*.conf;\n"
                        "}\n") &&
         WriteWholeFile(prefix + "/sites/app.conf",
                        "server {\n"
                        "    listen 127.0.0.1:" +
                            std::to_string(port) +
                            ";\n"
                            "    server_name app.example;\n"
                            "    location / {\n"
                            "        proxy_set_header Host $host;\n"
                            "        proxy_pass http://127.0.0.1:" +
                            std::to_string(current) +
                            ";\n"
                            "    }\n"
                            "    location /static/ {\n"
                            "        return 404;\n"
                            "    }\n"
                            "}\n");
}

}  // namespace

TEST_CASE(
    "bgctl init on a user's own nginx: with the printed lines in, "
    "validate passes and deploys go through that nginx",
    "[init_e2e]") {
  Service svc;
  // The backend that serves the site today, on a port of its own.
  int current = 0;
  ChildProcess today;
  std::string err;
  const bool started =
      StartSiteBefore(svc, &today, &current, WriteUserNginx, &err);
  INFO(err);
  REQUIRE(started);
  const std::string prefix = svc.nginx().prefix();

  const std::string nginx = "/usr/sbin/nginx -p " + prefix + " -c " + prefix +
                            "/nginx.conf -e stderr";
  const std::string dir = svc.dir() + "/deploy";
  const std::vector<std::string> init =
      InitArgs(svc, dir, "state", "logs/access.log", {"--switch", "reload"});
  CommandResult r = svc.Bgctl(init);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const json plan = json::parse(r.out);
  CHECK(plan["location"] == prefix + "/sites/app.conf:4");
  REQUIRE(ApplyInitEdits(plan["edits"], &err));
  const std::string config = plan["config"];

  // Not before the lines are in: nginx does not know bgctl's files yet...
  // they are in now, so nginx -t passes and the reload takes them.
  CommandResult reload =
      RunCommand({"/usr/sbin/nginx", "-s", "reload", "-p", prefix, "-c",
                  prefix + "/nginx.conf", "-e", "stderr"},
                 10000);
  INFO(reload.out << reload.err << ReadWholeFile(prefix + "/nginx.conf")
                  << ReadWholeFile(prefix + "/sites/app.conf"));
  REQUIRE(reload.exit_code == 0);
  REQUIRE(WaitFor([&] { return svc.Get("/__bgctl/generation") == "0"; }, 5000));
  // Until the first deploy, bgctl's upstream sends everything to today's
  // backend: adopting bgctl costs no request.
  for (int i = 0; i < 5; ++i) CHECK(VersionOf(svc.Get("/")) == "v0");

  CommandResult valid = svc.Bgctl({"validate"}, config);
  INFO(valid.out << valid.err);
  CHECK(valid.exit_code == 0);

  CommandResult v1 = svc.Bgctl({"deploy", "--version", "v1"}, config);
  INFO(v1.out << v1.err);
  REQUIRE(v1.exit_code == 0);
  for (int i = 0; i < 5; ++i) CHECK(VersionOf(svc.Get("/")) == "v1");
  CommandResult v2 = svc.Bgctl(
      {"deploy", "--version", "v2", "--steps", "50:500ms,100:0s"}, config);
  INFO(v2.out << v2.err);
  REQUIRE(v2.exit_code == 0);
  for (int i = 0; i < 5; ++i) CHECK(VersionOf(svc.Get("/")) == "v2");
  // bgctl's access log, in its format, got the proxied requests.
  CHECK(ReadWholeFile(dir + "/logs/access.log").find("\"upstream_addr\":") !=
        std::string::npos);

  // Run again: every file is there, so nothing is written and it says so.
  CommandResult again = svc.Bgctl({"init", "--dir", dir, "--service", "app",
                                   "--blue-port", "1", "--green-port", "2",
                                   "--command", "x {port}", "--nginx", nginx});
  CHECK(again.exit_code == 2);
  CHECK(again.err == "bgctl: " + dir +
                         "/bgctl.yaml exists: bgctl init never overwrites a "
                         "file (nothing was written); move it away or use "
                         "another --dir or --state-dir\n");
}

TEST_CASE(
    "bgctl init says what nginx -T said when it fails and writes "
    "nothing",
    "[init_e2e]") {
  TempDir tmp;
  REQUIRE(tmp.ok());
  CommandResult r =
      RunCommand({BGCTL_BIN, "init", "--dir", tmp.Path("out"), "--service",
                  "app", "--blue-port", "18081", "--green-port", "18082",
                  "--command", "app {port}", "--nginx",
                  "/usr/sbin/nginx -p " + tmp.path() + " -c " +
                      tmp.Path("missing.conf") + " -e stderr"},
                 20000);
  CHECK(r.exit_code == 1);
  CHECK(r.err.rfind("bgctl: nginx -T failed: ", 0) == 0);
  CHECK(r.err.find(tmp.Path("missing.conf")) != std::string::npos);
  CHECK(RunCommand({"ls", "-A", tmp.path()}, 5000).out == "");
}
