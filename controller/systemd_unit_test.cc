// The unit files the systemd runner writes: names, quoting, and the text.
// (tests/systemd_e2e_test.cc checks that a real systemd reads the quoting
// back into the same argv and environment.)
#include "controller/systemd_unit.h"

#include <catch2/catch.hpp>

namespace bgctl {
namespace {

Config UnitConfig() {
  Config c;
  c.service = "demo";
  c.blue_port = 8081;
  c.green_port = 8082;
  c.backend.runner = RunnerKind::kSystemd;
  c.backend.workdir = "/srv/demo";
  c.backend.systemd.wanted_by = "multi-user.target";
  return c;
}

std::string Quoted(const std::string& word, bool exec) {
  std::string out;
  REQUIRE(QuoteUnitWord(word, exec, &out));
  return out;
}

TEST_CASE(
    "slot units are named from the service and the slot, or the "
    "template's instance",
    "[systemd_unit]") {
  Config c = UnitConfig();
  CHECK(SlotUnitName(c, "blue") == "bgctl-demo-blue.service");
  CHECK(SlotUnitName(c, "green") == "bgctl-demo-green.service");
  CHECK(SlotUnitName(c, "red").empty());
  CHECK(SlotUnitName(c, "").empty());
  c.backend.systemd.template_unit = "demo-api@.service";
  CHECK(SlotUnitName(c, "green") == "demo-api@green.service");
  c.backend.systemd.unit_dir = "/etc/systemd/system";
  CHECK(CanaryDropInPath(c, "demo-api@green.service") ==
        "/etc/systemd/system/demo-api@green.service.d/90-bgctl-canary.conf");
  CHECK(TemplateDropInPath(c, "demo-api@green.service") ==
        "/etc/systemd/system/demo-api@green.service.d/50-bgctl.conf");
}

TEST_CASE("words are quoted so systemd passes them on unchanged",
          "[systemd_unit]") {
  CHECK(Quoted("--port", true) == "\"--port\"");
  CHECK(Quoted("a b", true) == "\"a b\"");
  CHECK(Quoted("q\"x", true) == "\"q\\\"x\"");
  CHECK(Quoted("back\\slash", true) == "\"back\\\\slash\"");
  CHECK(Quoted("100%", true) == "\"100%%\"");
  CHECK(Quoted("$HOME", true) == "\"$$HOME\"");
  CHECK(Quoted("$HOME", false) == "\"$HOME\"");  // Environment= expands none
  CHECK(Quoted(";", true) == "\";\"");           // not a command separator
  CHECK(Quoted("a\nb\tc", true) == "\"a\\nb\\tc\"");
  CHECK(Quoted(std::string("\x01\x7f", 2), true) == "\"\\x01\\x7f\"");
  CHECK(Quoted("", true) == "\"\"");
  CHECK(Quoted("é", true) == "\"é\"");
  std::string out;
  CHECK_FALSE(QuoteUnitWord(std::string("a\0b", 3), true, &out));
}

TEST_CASE(
    "a written unit runs the command with the drain as its stop and "
    "restarts on failure",
    "[systemd_unit]") {
  Config c = UnitConfig();
  c.backend.drain.signal_name = "SIGINT";
  c.backend.drain.timeout_ms = 2500;
  c.backend.systemd.user = "www-data";
  UnitSpec spec;
  spec.unit = "bgctl-demo-green.service";
  spec.slot = "green";
  spec.version = "v2";
  spec.port = 8082;
  spec.argv = {"/srv/demo/bin/app", "--port", "8082", "--name", "a b"};
  spec.env = {{"APP_ENV", "prod"}, {"BGCTL_INSTANCE", "00ff"}};
  std::string text, err;
  REQUIRE(RenderSlotUnit(c, spec, &text, &err));
  CHECK(text ==
        "# Written by bgctl for service demo, slot green (version v2, port "
        "8082).\n"
        "# bgctl rewrites this file at every start of the slot: change "
        "bgctl.yaml, not this file.\n"
        "[Unit]\n"
        "Description=demo green (bgctl): v2 on port 8082\n"
        "After=network.target\n\n"
        "[Service]\n"
        "Type=exec\n"
        "ExecStart=\"/srv/demo/bin/app\" \"--port\" \"8082\" \"--name\" "
        "\"a b\"\n"
        "WorkingDirectory=/srv/demo\n"
        "User=www-data\n"
        "Environment=\"APP_ENV=prod\"\n"
        "Environment=\"BGCTL_INSTANCE=00ff\"\n"
        "KillMode=control-group\n"
        "KillSignal=SIGINT\n"
        "TimeoutStopSec=2500ms\n"
        "Restart=on-failure\n"
        "CPUAccounting=yes\n"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "SyslogIdentifier=demo-green\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n");
}

TEST_CASE("what a unit file cannot hold is an error naming the key",
          "[systemd_unit]") {
  Config c = UnitConfig();
  UnitSpec spec;
  spec.slot = "blue";
  spec.argv = {"/bin/app", std::string("a\0b", 3)};
  std::string text, err;
  CHECK_FALSE(RenderSlotUnit(c, spec, &text, &err));
  CHECK(err == "backend.command: a unit file cannot hold a NUL byte");
  spec.argv = {"/bin/app"};
  c.backend.workdir = "/srv/a\\b";
  CHECK_FALSE(RenderSlotUnit(c, spec, &text, &err));
  CHECK(err.find("backend.workdir \"/srv/a\\b\"") == 0);
  c.backend.workdir = "/srv/100% sure";
  REQUIRE(RenderSlotUnit(c, spec, &text, &err));
  CHECK(text.find("WorkingDirectory=/srv/100%% sure\n") != std::string::npos);
  spec.env = {{"X", std::string("\0", 1)}};
  CHECK_FALSE(RenderTemplateDropIn(c, spec, &text, &err));
  CHECK(err == "backend.env.X: a unit file cannot hold a NUL byte");
}

TEST_CASE(
    "a template instance's drop-in has the environment and the stop, "
    "no ExecStart",
    "[systemd_unit]") {
  Config c = UnitConfig();
  UnitSpec spec;
  spec.slot = "blue";
  spec.version = "v1";
  spec.port = 8081;
  spec.env = {{"BGCTL_PORT", "8081"}};
  std::string text, err;
  REQUIRE(RenderTemplateDropIn(c, spec, &text, &err));
  CHECK(text.find("[Service]\nEnvironment=\"BGCTL_PORT=8081\"\n"
                  "KillMode=control-group\nKillSignal=SIGTERM\n"
                  "TimeoutStopSec=30000ms\nRestart=on-failure\n") !=
        std::string::npos);
  CHECK(text.find("ExecStart") == std::string::npos);
  CHECK(text.find("[Install]") == std::string::npos);
  CHECK(RenderCanaryDropIn().find("[Service]\nRestart=no\n") !=
        std::string::npos);
}

TEST_CASE("systemctl show output is read as a map", "[systemd_unit]") {
  auto m = ParseShowOutput(
      "MainPID=42\nActiveState=active\nEnvironment=A=1 B=2\nempty=\n");
  CHECK(m["MainPID"] == "42");
  CHECK(m["ActiveState"] == "active");
  CHECK(m["Environment"] == "A=1 B=2");
  CHECK(m.count("empty") == 1);
  CHECK(ParseShowOutput("").empty());
}

}  // namespace
}  // namespace bgctl
