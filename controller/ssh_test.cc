// SshClient on the fake ProcessRunner: exact argv, quoting, validation and
// the meaning of ssh's exit codes. The quoting and the atomic write script
// are also run through a real local shell, which parses them as the remote
// login shell would. tests/ssh_e2e_test.cc runs it against real sshd.
#include "controller/ssh.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "controller/fake_env.h"
#include "controller/process.h"
#include "tests/support/temp_dir.h"

namespace bgctl {
namespace {

using testing::ReadWholeFile;
using testing::TempDir;
using testing::WriteWholeFile;

SshDestination Dest(const std::string& text) {
  SshDestination d;
  std::string err;
  const bool parsed = ParseSshDestination(text, &d, &err);
  INFO(err);
  REQUIRE(parsed);
  return d;
}

// A client on the fake runner with a real private control folder.
struct Fixture {
  TempDir dir;
  fake::FakeProcessRunner runner;
  SshClient client;

  explicit Fixture(SshOptions options = {})
      : client(&runner, RealFileSystem(), WithDir(options, dir.Path("cm"))) {}
  static SshOptions WithDir(SshOptions o, const std::string& dir) {
    if (o.control_dir.empty()) o.control_dir = dir;
    return o;
  }
  // The remote command line of the last ssh run.
  std::string LastRemote() const { return runner.runs().back().argv.back(); }
};

TEST_CASE(
    "an ssh destination is host, user@host or ssh://user@host:port, parsed "
    "into its parts",
    "[ssh]") {
  struct Case {
    std::string text, user, host;
    int port;
  };
  for (const Case& c : std::vector<Case>{
           {"app1", "", "app1", 0},
           {"root@127.0.0.2", "root", "127.0.0.2", 0},
           {"deploy@app1.example.com", "deploy", "app1.example.com", 0},
           {"ssh://deploy@app1:2222", "deploy", "app1", 2222},
           {"ssh://app1", "", "app1", 0},
           {"ssh://root@[::1]:22", "root", "::1", 22},
           {"ssh://[fe80::1]", "", "fe80::1", 0},
           {"deploy@::1", "deploy", "::1", 0},
       }) {
    SshDestination d = Dest(c.text);
    INFO(c.text);
    CHECK(d.text == c.text);
    CHECK(d.user == c.user);
    CHECK(d.host == c.host);
    CHECK(d.port == c.port);
  }
}

TEST_CASE(
    "an ssh destination that could become an ssh option or holds anything "
    "but a user, host and port is refused, saying why",
    "[ssh]") {
  const std::string dash = "a host may not start with '-'";
  const std::string user = "a user is 1-32 characters of A-Z a-z 0-9 . _ -";
  const std::string host = "a host is a name or address of A-Z a-z 0-9 . _ -";
  const std::string port = "a port is a number from 1 to 65535";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"", "it is empty"},
      {"-oProxyCommand=sh", dash},
      {"-l", dash},
      {"root@-oProxyCommand=x", "a host may not start with '-' or '.'"},
      {"-root@host", dash},
      {"ssh://-oProxyCommand=x", "a host may not start with '-' or '.'"},
      {"ssh://-x@host", "a user may not start with '-'"},
      {"app 1", "it holds a space or a control character"},
      {"app1\n", "it holds a space or a control character"},
      {"app\t1", "it holds a space or a control character"},
      {"host;reboot", host},
      {"$(reboot)", host},
      {"r'x@host", user},
      {"@host", user},
      {"root@host@other", host},
      {"root@", host},
      {"ssh://host:0", port},
      {"ssh://host:65536", port},
      {"ssh://host:22x", port},
      {"ssh://host:", port},
      {"ssh://host/x", "an ssh:// destination has no path"},
      {"ssh://::1:22", "an IPv6 address in ssh:// is written [address]"},
      {"ssh://[host]:22", "[...] holds an IPv6 address"},
      {"ssh://[::1", "no ']' after '['"},
      {"ssh://[::1]x", "only \":port\" may follow ']'"},
      {"[::1]", "\"[::1]\" is not an IPv6 address"},
      {"root@1:2:3", "\"1:2:3\" is not an IPv6 address"},
  };
  for (const auto& [text, why] : cases) {
    SshDestination d;
    std::string err;
    INFO(text);
    CHECK_FALSE(ParseSshDestination(text, &d, &err));
    CHECK(err == "bad ssh destination \"" + text + "\": " + why);
  }
}

TEST_CASE(
    "every ssh gets batch mode, strict host keys, the connect timeout and one "
    "master connection per host in the control folder, then the quoted "
    "command",
    "[ssh]") {
  SshOptions options;
  options.config_file = "/etc/bgctl/ssh_config";
  options.connect_timeout_ms = 4500;
  options.control_persist_ms = 30000;
  Fixture f(options);
  RunResult out;
  std::string err;
  CHECK(f.client.Run(Dest("ssh://deploy@app1:2222"),
                     {"systemctl", "is-active", "demo-blue.service"}, 7000,
                     &out, &err) == SshStatus::kOk);
  REQUIRE(f.runner.runs().size() == 1);
  const auto& run = f.runner.runs()[0];
  CHECK(run.argv == std::vector<std::string>{
                        "ssh",
                        "-F",
                        "/etc/bgctl/ssh_config",
                        "-o",
                        "BatchMode=yes",
                        "-o",
                        "StrictHostKeyChecking=yes",
                        "-o",
                        "ConnectTimeout=5",
                        "-o",
                        "ControlMaster=auto",
                        "-o",
                        "ControlPath=" + f.dir.Path("cm") + "/%C",
                        "-o",
                        "ControlPersist=30",
                        "-o",
                        "LogLevel=ERROR",
                        "-T",
                        "-p",
                        "2222",
                        "--",
                        "deploy@app1",
                        "'systemctl' 'is-active' 'demo-blue.service'"});
  CHECK(run.timeout_ms == 7000);
  CHECK(run.stdin_data.empty());
  // The control folder exists, private to bgctl's user.
  struct stat st;
  REQUIRE(stat(f.dir.Path("cm").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  // Without a config file, user or port: ssh's own defaults.
  Fixture plain;
  CHECK(plain.client.Run(Dest("app2"), {"true"}, 1000, &out, &err) ==
        SshStatus::kOk);
  std::vector<std::string> argv = plain.runner.runs()[0].argv;
  CHECK(argv[1] == "-o");
  CHECK(std::vector<std::string>(argv.end() - 3, argv.end()) ==
        std::vector<std::string>{"--", "app2", "'true'"});
  CHECK(argv[argv.size() - 4] == "-T");
}

TEST_CASE(
    "awkward arguments reach the remote shell quoted, and a real shell reads "
    "them back unchanged",
    "[ssh]") {
  CHECK(ShellQuote("a'b") == "'a'\\''b'");
  CHECK(ShellQuote("$(x)") == "'$(x)'");
  CHECK(ShellQuote(";") == "';'");
  CHECK(ShellQuote("") == "''");
  Fixture f;
  const std::vector<std::string> awkward = {
      "a'b", "$(x)", ";", "`id`", "a b", "", "*", "~", "\\", "''", "-x", "é"};
  std::vector<std::string> argv = {"printf", "[%s]"};
  argv.insert(argv.end(), awkward.begin(), awkward.end());
  RunResult out;
  std::string err;
  REQUIRE(f.client.Run(Dest("h"), argv, 1000, &out, &err) == SshStatus::kOk);
  std::string expected;
  for (const std::string& a : awkward) expected += "[" + a + "]";
  // What sshd does with it: the login shell runs `sh -c LINE` (bash or dash).
  for (const char* shell : {"/bin/sh", "/bin/bash"}) {
    RunResult local;
    REQUIRE(RealProcessRunner()->Run({shell, "-c", f.LastRemote()}, "", 5000,
                                     &local, &err));
    INFO(shell);
    CHECK(local.exit_code == 0);
    CHECK(local.output == expected);
  }
}

TEST_CASE(
    "a remote argument with a control character is refused before any ssh "
    "runs",
    "[ssh]") {
  Fixture f;
  RunResult out;
  std::string err;
  CHECK(f.client.Run(Dest("root@h"), {"echo", "a\nreboot"}, 1000, &out, &err) ==
        SshStatus::kError);
  CHECK(err ==
        "cannot run `echo a\nreboot` on root@h: argument 2 of the remote "
        "command holds a control character");
  CHECK(f.client.Run(Dest("root@h"), {}, 1000, &out, &err) ==
        SshStatus::kError);
  CHECK(err == "cannot run `` on root@h: no command to run");
  CHECK(f.runner.runs().empty());
}

TEST_CASE(
    "ssh's exit 255 is an ssh failure naming the host and saying connect, "
    "auth or host key, while another exit code is the remote command's",
    "[ssh]") {
  struct Case {
    int code;
    std::string output;
    SshStatus status;
    std::string err;
  };
  const std::string cmd = "`systemctl is-active x.service` on root@127.0.0.2";
  std::vector<Case> cases = {
      {255, "ssh: connect to host 127.0.0.2 port 2222: Connection refused\r\n",
       SshStatus::kConnect,
       "ssh to root@127.0.0.2: cannot connect: ssh: connect to host 127.0.0.2 "
       "port 2222: Connection refused"},
      {255, "ssh: Could not resolve hostname nope: Name or service not known\n",
       SshStatus::kConnect,
       "ssh to root@127.0.0.2: cannot connect: ssh: Could not resolve "
       "hostname nope: Name or service not known"},
      {255,
       "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\r\n...\r\n"
       "Host key verification failed.\r\n",
       SshStatus::kHostKey,
       "ssh to root@127.0.0.2: host key refused (unknown or changed; strict "
       "checking): Host key verification failed."},
      {255, "root@127.0.0.2: Permission denied (publickey).\r\n",
       SshStatus::kAuth,
       "ssh to root@127.0.0.2: authentication refused: root@127.0.0.2: "
       "Permission denied (publickey)."},
      {255, "", SshStatus::kError,
       "ssh to root@127.0.0.2: ssh failed (exit 255)"},
      {3, "inactive\n", SshStatus::kRemoteFailed, cmd + " exited 3: inactive"},
      {1, "", SshStatus::kRemoteFailed, cmd + " exited 1"},
      {-1, "", SshStatus::kError,
       "ssh to root@127.0.0.2 was killed by a signal"},
      {0, "active\n", SshStatus::kOk, ""},
  };
  for (const Case& c : cases) {
    Fixture f;
    f.runner.Script("ssh", RunResult{c.code, false, c.output});
    RunResult out;
    std::string err;
    INFO(c.output);
    CHECK(f.client.Run(Dest("root@127.0.0.2"),
                       {"systemctl", "is-active", "x.service"}, 1000, &out,
                       &err) == c.status);
    CHECK(err == c.err);
    CHECK(out.exit_code == c.code);
    CHECK(out.output == c.output);
  }
  Fixture timed_out;
  timed_out.runner.Script("ssh", RunResult{-1, true, ""});
  RunResult out;
  std::string err;
  CHECK(timed_out.client.Run(Dest("root@127.0.0.2"),
                             {"systemctl", "is-active", "x.service"}, 1000,
                             &out, &err) == SshStatus::kTimedOut);
  CHECK(err == cmd + ": no end within the timeout (ssh killed)");
  Fixture missing;
  missing.runner.run_error = "cannot start \"ssh\": No such file or directory";
  CHECK(missing.client.Run(Dest("root@127.0.0.2"), {"true"}, 1000, &out,
                           &err) == SshStatus::kError);
  CHECK(err ==
        "ssh to root@127.0.0.2: cannot start \"ssh\": No such file or "
        "directory");
}

TEST_CASE(
    "WriteFile sends the content on stdin to a script that a real shell runs "
    "into a temporary file of the same folder, then renames it",
    "[ssh]") {
  Fixture f;
  std::string err;
  const std::string content("line 1\n'quoted' $(x) \0 bytes\n", 30);
  REQUIRE(f.client.WriteFile(Dest("root@h"), f.dir.Path("app.conf"), content,
                             0640, 5000, &err) == SshStatus::kOk);
  const auto& run = f.runner.runs().back();
  CHECK(run.stdin_data == content);
  CHECK(run.timeout_ms == 5000);
  CHECK(run.argv.back() ==
        "'sh' '-c' 'set -e; t=$(mktemp \"$1/.$2.tmp.XXXXXXXXXXXXXXXX\"); trap "
        "'\\''rm -f \"$t\"'\\'' EXIT; cat > \"$t\"; chmod \"$3\" \"$t\"; sync "
        "\"$t\"; mv -f \"$t\" \"$1/$2\"; trap - EXIT; sync \"$1\"' 'sh' '" +
            f.dir.path() + "' 'app.conf' '0640'");
  // The remote shell's part, run here: a symbolic link at the path is
  // replaced, not followed, and no temporary file stays.
  REQUIRE(WriteWholeFile(f.dir.Path("target"), "untouched"));
  REQUIRE(symlink(f.dir.Path("target").c_str(),
                  f.dir.Path("app.conf").c_str()) == 0);
  RunResult local;
  REQUIRE(RealProcessRunner()->RunWithInput(
      {"/bin/bash", "-c", run.argv.back()}, "", content, 5000, &local, &err));
  INFO(local.output);
  CHECK(local.exit_code == 0);
  CHECK(ReadWholeFile(f.dir.Path("app.conf")) == content);
  CHECK(ReadWholeFile(f.dir.Path("target")) == "untouched");
  struct stat st;
  REQUIRE(lstat(f.dir.Path("app.conf").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0640);
  RunResult listing;
  REQUIRE(RealProcessRunner()->Run({"ls", "-A", f.dir.path()}, "", 5000,
                                   &listing, &err));
  CHECK(listing.output == "app.conf\ncm\ntarget\n");
  // A folder that does not exist: the script fails and says so.
  REQUIRE(f.client.WriteFile(Dest("root@h"), f.dir.Path("no/app.conf"), "x",
                             0644, 5000, &err) == SshStatus::kOk);
  REQUIRE(RealProcessRunner()->RunWithInput({"/bin/sh", "-c", f.LastRemote()},
                                            "", "x", 5000, &local, &err));
  CHECK(local.exit_code == 1);
  CHECK_THAT(local.output, Catch::Contains("mktemp"));
}

TEST_CASE(
    "WriteFile refuses a relative path, a folder or a control character, and "
    "reports a failed write on the host",
    "[ssh]") {
  Fixture f;
  std::string err;
  for (const std::string path :
       {"app.conf", "/etc/", "/etc/..", "/etc/.", "", "/etc/a\nb"}) {
    INFO(path);
    CHECK(f.client.WriteFile(Dest("h"), path, "x", 0644, 1000, &err) ==
          SshStatus::kError);
    CHECK(err == "cannot write \"" + path +
                     "\" on a host: an absolute file path without control "
                     "characters is needed");
  }
  CHECK(f.runner.runs().empty());
  f.runner.Script("ssh", RunResult{1, false,
                                   "mktemp: failed to create file via "
                                   "template '/nope/.x.tmp.XXXX': No such "
                                   "file or directory\n"});
  CHECK(f.client.WriteFile(Dest("root@h"), "/nope/x", "x", 0644, 1000, &err) ==
        SshStatus::kRemoteFailed);
  CHECK(err ==
        "writing /nope/x on root@h exited 1: mktemp: failed to create file via "
        "template '/nope/.x.tmp.XXXX': No such file or directory");
}

TEST_CASE(
    "CloseAll ends the master connection of every host used, once, and "
    "MasterRunning asks ssh -O check",
    "[ssh]") {
  Fixture f;
  RunResult out;
  std::string err;
  for (const char* host : {"root@a", "root@b", "root@a"})
    REQUIRE(f.client.Run(Dest(host), {"true"}, 1000, &out, &err) ==
            SshStatus::kOk);
  f.runner.Script("ssh", RunResult{255, false, "Control socket connect: x"});
  CHECK_FALSE(f.client.MasterRunning(Dest("root@a")));
  size_t before = f.runner.runs().size();
  f.client.CloseAll();
  std::vector<std::vector<std::string>> all = f.runner.RunArgvs();
  std::vector<std::vector<std::string>> closes(
      all.begin() + static_cast<long>(before), all.end());
  REQUIRE(closes.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<std::string>& argv = closes[i];
    INFO(fake::JoinArgv(argv));
    CHECK(std::vector<std::string>(argv.end() - 4, argv.end()) ==
          std::vector<std::string>{"-O", "exit", "--",
                                   i == 0 ? "root@a" : "root@b"});
    CHECK(argv[argv.size() - 5] == "-T");
  }
  const auto& check = f.runner.runs()[before - 1].argv;
  CHECK(std::vector<std::string>(check.end() - 4, check.end()) ==
        std::vector<std::string>{"-O", "check", "--", "root@a"});
  f.client.CloseAll();
  CHECK(f.runner.runs().size() == before + 2);
}

TEST_CASE(
    "a control folder that is too long for a socket, shared with others or "
    "odd is refused before any ssh runs",
    "[ssh]") {
  TempDir dir;
  std::string fits = dir.path() + "/";
  fits += std::string(SshClient::kMaxControlDirLength - fits.size(), 'c');
  std::string longer = fits + "x";
  REQUIRE(SshClient::kMaxControlDirLength == 49);
  std::string shared = dir.Path("shared");
  REQUIRE(mkdir(shared.c_str(), 0777) == 0);
  REQUIRE(chmod(shared.c_str(), 0777) == 0);
  struct Case {
    std::string dir;
    std::string err;
  };
  const std::string odd =
      "\": an absolute path of at most 49 bytes without spaces, '\"' or '%' "
      "is needed (ssh binds a socket there; a socket path holds at most 107 "
      "bytes)";
  for (const Case& c : std::vector<Case>{
           {longer, "ssh control folder \"" + longer + odd},
           {"relative/cm", "ssh control folder \"relative/cm" + odd},
           {dir.Path("a%h"), "ssh control folder \"" + dir.Path("a%h") + odd},
           {"", "ssh control folder \"" + odd},
           {shared, "the ssh control folder " + shared +
                        " is writable by others (mode 0777): bgctl refuses "
                        "it; chmod go-w " +
                        shared}}) {
    fake::FakeProcessRunner runner;
    SshOptions options;
    options.control_dir = c.dir;
    SshClient client(&runner, RealFileSystem(), options);
    RunResult out;
    std::string err;
    INFO(c.dir);
    CHECK(client.Run(Dest("h"), {"true"}, 1000, &out, &err) ==
          SshStatus::kError);
    CHECK(err == c.err);
    CHECK(runner.runs().empty());
  }
  fake::FakeProcessRunner runner;
  SshOptions options;
  options.control_dir = fits;
  SshClient client(&runner, RealFileSystem(), options);
  RunResult out;
  std::string err;
  CHECK(client.Run(Dest("h"), {"true"}, 1000, &out, &err) == SshStatus::kOk);
}

}  // namespace
}  // namespace bgctl
