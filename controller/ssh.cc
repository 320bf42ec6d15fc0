#include "controller/ssh.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

#include "controller/text.h"

namespace bgctl {

namespace {

constexpr char kUrlPrefix[] = "ssh://";

// Writes stdin to $1/$2 atomically with mode $3 (WriteFile). One line: the
// remote arguments may hold no control character, this script included.
constexpr char kWriteScript[] =
    "set -e; t=$(mktemp \"$1/.$2.tmp.XXXXXXXXXXXXXXXX\"); "
    "trap 'rm -f \"$t\"' EXIT; cat > \"$t\"; chmod \"$3\" \"$t\"; "
    "sync \"$t\"; mv -f \"$t\" \"$1/$2\"; trap - EXIT; sync \"$1\"";

bool HasControl(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

bool OnlyNameChars(const std::string& s) {
  return s.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
             "wxyz0123456789._-") == std::string::npos;
}

bool Bad(const std::string& text, const std::string& why, std::string* err) {
  *err = "bad ssh destination \"" + text + "\": " + why;
  return false;
}

bool CheckUser(const std::string& text, const std::string& user,
               std::string* err) {
  if (user.empty() || user.size() > 32 || !OnlyNameChars(user))
    return Bad(text, "a user is 1-32 characters of A-Z a-z 0-9 . _ -", err);
  if (user[0] == '-') return Bad(text, "a user may not start with '-'", err);
  return true;
}

// A DNS name or IPv4 address, or an IPv6 address (it holds a ':').
bool CheckHost(const std::string& text, const std::string& host,
               std::string* err) {
  if (host.find(':') != std::string::npos) {
    in6_addr addr;
    if (inet_pton(AF_INET6, host.c_str(), &addr) == 1) return true;
    return Bad(text, "\"" + host + "\" is not an IPv6 address", err);
  }
  if (!host.empty() && (host[0] == '-' || host[0] == '.'))
    return Bad(text, "a host may not start with '-' or '.'", err);
  if (host.empty() || host.size() > 253 || !OnlyNameChars(host))
    return Bad(text, "a host is a name or address of A-Z a-z 0-9 . _ -", err);
  return true;
}

bool CheckPort(const std::string& text, const std::string& port, int* out,
               std::string* err) {
  uint64_t value = 0;
  if (!ParseDecimal(port, &value) || value < 1 || value > 65535)
    return Bad(text, "a port is a number from 1 to 65535", err);
  *out = static_cast<int>(value);
  return true;
}

// "[user@]host[:port]" after ssh://; an IPv6 host is written [addr].
bool ParseUrlRest(const std::string& text, const std::string& rest,
                  SshDestination* out, std::string* err) {
  if (rest.find('/') != std::string::npos)
    return Bad(text, "an ssh:// destination has no path", err);
  size_t at = rest.find('@');
  std::string hostport = at == std::string::npos ? rest : rest.substr(at + 1);
  if (at != std::string::npos) {
    out->user = rest.substr(0, at);
    if (!CheckUser(text, out->user, err)) return false;
  }
  std::string port;
  bool has_port = false;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) return Bad(text, "no ']' after '['", err);
    out->host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty() && after[0] != ':')
      return Bad(text, "only \":port\" may follow ']'", err);
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    if (out->host.find(':') == std::string::npos)
      return Bad(text, "[...] holds an IPv6 address", err);
  } else {
    size_t colon = hostport.find(':');
    out->host = hostport.substr(0, colon);
    has_port = colon != std::string::npos;
    if (has_port) port = hostport.substr(colon + 1);
    if (port.find(':') != std::string::npos)
      return Bad(text, "an IPv6 address in ssh:// is written [address]", err);
  }
  if (!CheckHost(text, out->host, err)) return false;
  return !has_port || CheckPort(text, port, &out->port, err);
}

// The last line of ssh's output that is not empty (its own message).
std::string LastLine(const std::string& output) {
  std::string text = Trim(output);
  size_t nl = text.find_last_of('\n');
  std::string line = nl == std::string::npos ? text : text.substr(nl + 1);
  line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
  return ValidUtf8(line);
}

bool Contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

// What an exit 255 of ssh means, from its message.
SshStatus Classify(const std::string& output, std::string* what) {
  for (const char* n : {"Host key verification failed",
                        "REMOTE HOST IDENTIFICATION HAS CHANGED"}) {
    if (Contains(output, n)) {
      *what = "host key refused (unknown or changed; strict checking)";
      return SshStatus::kHostKey;
    }
  }
  for (const char* n :
       {"Permission denied", "Too many authentication failures"}) {
    if (Contains(output, n)) {
      *what = "authentication refused";
      return SshStatus::kAuth;
    }
  }
  for (const char* n :
       {"connect to host", "Connection refused", "Connection timed out",
        "No route to host", "Could not resolve hostname",
        "Network is unreachable", "Connection closed by", "Connection reset by",
        "timed out"}) {
    if (Contains(output, n)) {
      *what = "cannot connect";
      return SshStatus::kConnect;
    }
  }
  *what = "ssh failed (exit 255)";
  return SshStatus::kError;
}

std::string Seconds(int64_t ms) {
  return std::to_string(std::max<int64_t>(1, (ms + 999) / 1000));
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// argv as one command line for the remote shell, or false with *err.
bool RemoteCommand(const std::vector<std::string>& argv, std::string* line,
                   std::string* err) {
  if (argv.empty()) {
    *err = "no command to run";
    return false;
  }
  line->clear();
  for (size_t i = 0; i < argv.size(); ++i) {
    if (HasControl(argv[i])) {
      *err = "argument " + std::to_string(i + 1) +
             " of the remote command holds a control character";
      return false;
    }
    *line += (i == 0 ? "" : " ") + ShellQuote(argv[i]);
  }
  return true;
}

// Splits an absolute file path into folder and name; false with *err.
bool SplitRemotePath(const std::string& path, std::string* dir,
                     std::string* name, std::string* err) {
  size_t slash = path.rfind('/');
  *name = slash == std::string::npos ? "" : path.substr(slash + 1);
  if (path.empty() || path[0] != '/' || HasControl(path) || name->empty() ||
      *name == "." || *name == "..") {
    *err = "cannot write \"" + path +
           "\" on a host: an absolute file path without control characters "
           "is needed";
    return false;
  }
  *dir = slash == 0 ? "/" : path.substr(0, slash);
  return true;
}

}  // namespace

bool ParseSshDestination(const std::string& text, SshDestination* out,
                         std::string* err) {
  *out = SshDestination();
  out->text = text;
  if (text.empty()) return Bad(text, "it is empty", err);
  if (HasControl(text) || text.find(' ') != std::string::npos)
    return Bad(text, "it holds a space or a control character", err);
  if (text[0] == '-') return Bad(text, "a host may not start with '-'", err);
  if (text.compare(0, sizeof(kUrlPrefix) - 1, kUrlPrefix) == 0)
    return ParseUrlRest(text, text.substr(sizeof(kUrlPrefix) - 1), out, err);
  size_t at = text.find('@');
  if (at != std::string::npos) {
    out->user = text.substr(0, at);
    if (!CheckUser(text, out->user, err)) return false;
  }
  out->host = at == std::string::npos ? text : text.substr(at + 1);
  return CheckHost(text, out->host, err);
}

std::string ShellQuote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

SshClient::SshClient(ProcessRunner* runner, FileSystem* fs, SshOptions options)
    : runner_(runner), fs_(fs), options_(std::move(options)) {}

std::vector<std::string> SshClient::Options(const SshDestination& host) const {
  std::vector<std::string> argv = {"ssh"};
  if (!options_.config_file.empty())
    argv.insert(argv.end(), {"-F", options_.config_file});
  argv.insert(argv.end(),
              {"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
               "ConnectTimeout=" + Seconds(options_.connect_timeout_ms), "-o",
               "ControlMaster=auto", "-o",
               "ControlPath=" + options_.control_dir + "/%C", "-o",
               "ControlPersist=" + Seconds(options_.control_persist_ms), "-o",
               "LogLevel=ERROR", "-T"});
  if (host.port > 0) argv.insert(argv.end(), {"-p", std::to_string(host.port)});
  return argv;
}

std::vector<std::string> SshClient::Argv(const SshDestination& host,
                                         const std::string& remote) const {
  std::vector<std::string> argv = Options(host);
  argv.push_back("--");
  argv.push_back(host.user.empty() ? host.host : host.user + "@" + host.host);
  if (!remote.empty()) argv.push_back(remote);
  return argv;
}

bool SshClient::Prepare(std::string* err) {
  std::lock_guard<std::mutex> lock(mu_);
  if (prepared_) return true;
  const std::string& dir = options_.control_dir;
  if (dir.empty() || dir[0] != '/' || dir.size() > kMaxControlDirLength ||
      HasControl(dir) || dir.find_first_of(" \"%") != std::string::npos) {
    *err = "ssh control folder \"" + dir + "\": an absolute path of at most " +
           std::to_string(kMaxControlDirLength) +
           " bytes without spaces, '\"' or '%' is needed (ssh binds a socket "
           "there; a socket path holds at most 107 bytes)";
    return false;
  }
  if (!fs_->MakeDirs(dir, 0700, err) ||
      !CheckPrivateDir("the ssh control folder", dir, err))
    return false;
  prepared_ = true;
  return true;
}

SshStatus SshClient::Finish(const SshDestination& host, const std::string& what,
                            const RunResult& result, std::string* err) {
  std::string on = " on " + host.text;
  if (result.timed_out) {
    *err = what + on + ": no end within the timeout (ssh killed)";
    return SshStatus::kTimedOut;
  }
  if (result.exit_code == 0) return SshStatus::kOk;
  std::string last = LastLine(result.output);
  if (result.exit_code == 255) {
    std::string kind;
    SshStatus status = Classify(result.output, &kind);
    *err =
        "ssh to " + host.text + ": " + kind + (last.empty() ? "" : ": ") + last;
    return status;
  }
  if (result.exit_code < 0) {
    *err = "ssh to " + host.text + " was killed by a signal";
    return SshStatus::kError;
  }
  *err = what + on + " exited " + std::to_string(result.exit_code) +
         (last.empty() ? "" : ": ") + last;
  return SshStatus::kRemoteFailed;
}

SshStatus SshClient::Run(const SshDestination& host,
                         const std::vector<std::string>& argv,
                         int64_t timeout_ms, RunResult* out, std::string* err) {
  *out = RunResult();
  std::string remote, why;
  if (!RemoteCommand(argv, &remote, &why)) {
    *err = "cannot run `" + Joined(argv) + "` on " + host.text + ": " + why;
    return SshStatus::kError;
  }
  if (!Prepare(err)) return SshStatus::kError;
  std::vector<std::string> ssh = Argv(host, remote);
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_.insert(Argv(host, ""));
  }
  if (!runner_->Run(ssh, "", timeout_ms, out, &why)) {
    *err = "ssh to " + host.text + ": " + why;
    return SshStatus::kError;
  }
  return Finish(host, "`" + Joined(argv) + "`", *out, err);
}

SshStatus SshClient::WriteFile(const SshDestination& host,
                               const std::string& path,
                               const std::string& contents, int mode,
                               int64_t timeout_ms, std::string* err) {
  std::string dir, name, remote;
  if (!SplitRemotePath(path, &dir, &name, err)) return SshStatus::kError;
  char octal[8];
  snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode & 07777));
  if (!RemoteCommand({"sh", "-c", kWriteScript, "sh", dir, name, octal},
                     &remote, err) ||
      !Prepare(err))
    return SshStatus::kError;
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_.insert(Argv(host, ""));
  }
  RunResult out;
  std::string why;
  if (!runner_->RunWithInput(Argv(host, remote), "", contents, timeout_ms, &out,
                             &why)) {
    *err = "ssh to " + host.text + ": " + why;
    return SshStatus::kError;
  }
  return Finish(host, "writing " + path, out, err);
}

bool SshClient::MasterRunning(const SshDestination& host) {
  std::vector<std::string> argv = Argv(host, "");
  argv.insert(argv.end() - 2, {"-O", "check"});
  RunResult out;
  std::string err;
  return runner_->Run(argv, "", 10000, &out, &err) && out.exit_code == 0;
}

void SshClient::CloseAll() {
  std::set<std::vector<std::string>> used;
  {
    std::lock_guard<std::mutex> lock(mu_);
    used.swap(used_);
  }
  for (std::vector<std::string> argv : used) {
    argv.insert(argv.end() - 2, {"-O", "exit"});
    RunResult out;
    std::string err;
    runner_->Run(argv, "", 10000, &out, &err);
  }
}

}  // namespace bgctl
