// bgctl's SSH transport (issue 19): runs a command on a host with OpenSSH's
// `ssh`, as an argv list through ProcessRunner (so the fakes of fake_env.h
// test it), never through a local shell.
//
// The remote end of ssh hands the command line to the user's login shell,
// which parses it. So every argument is quoted for a POSIX shell ('...', a '
// inside written '\''), and an argument holding a control character is
// refused (a newline is read differently by csh-like shells): the remote
// command gets exactly the argv given. Destinations are validated first
// (ParseSshDestination), so nothing user-supplied can become an ssh option.
//
// Every ssh bgctl runs is
//   ssh [-F FILE] -o BatchMode=yes -o StrictHostKeyChecking=yes
//       -o ConnectTimeout=S -o ControlMaster=auto -o ControlPath=DIR/%C
//       -o ControlPersist=S -o LogLevel=ERROR -T [-p PORT] -- DEST 'ARG'...
// -F names an ssh_config (IdentityFile, UserKnownHostsFile, Port, ...);
// BatchMode never prompts; StrictHostKeyChecking refuses an unknown or
// changed host key; the Control options make the first command to a host
// open one connection (a background master) that every later command of the
// same bgctl command reuses, until CloseAll() (`ssh -O exit`) or, if bgctl
// dies, ControlPersist of idle time. DIR must be private (0700, checked by
// CheckPrivateDir) and short: a socket path holds at most 107 bytes, and
// ssh binds DIR/<40 hex digits of %C>.<16 random characters> first, so DIR
// may have at most kMaxControlDirLength bytes.
//
// ssh exits 255 when it fails itself; then the status says why (connect,
// auth, host key) and *err names the host:
//   ssh to root@127.0.0.2: cannot connect: ssh: connect to host 127.0.0.2
//   port 2222: Connection refused
// A remote command that itself exits 255 cannot be told apart: it is
// reported as an ssh failure.
#ifndef BGCTL_CONTROLLER_SSH_H_
#define BGCTL_CONTROLLER_SSH_H_

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/env.h"

namespace bgctl {

// Where ssh goes: `host`, `user@host` or `ssh://[user@]host[:port]`.
struct SshDestination {
  std::string text;  // as given, for messages
  std::string user;  // "" : the config file's User, else the local user
  std::string host;  // a DNS name, an IPv4 or an IPv6 address
  int port = 0;      // 0: the config file's Port, else 22
};

// Parses and validates `text`. A user is 1-32 characters of [A-Za-z0-9._-]
// not starting with '-'; a host is a name or address of [A-Za-z0-9._-]
// (not starting with '-' or '.'), or an IPv6 address ([...] in the ssh://
// form); a port is 1-65535; nothing else (no space, no control character,
// no path). False with *err:
//   bad ssh destination "-oProxyCommand=x": a host may not start with '-'
bool ParseSshDestination(const std::string& text, SshDestination* out,
                         std::string* err);

// `arg` quoted for a POSIX shell: 'arg', with each ' written '\''.
std::string ShellQuote(const std::string& arg);

struct SshOptions {
  std::string config_file;             // ssh -F FILE; "" : ssh's own defaults
  std::string control_dir;             // private folder of the control sockets
  int64_t connect_timeout_ms = 10000;  // ConnectTimeout, whole seconds up
  int64_t control_persist_ms = 60000;  // an idle master exits after this
};

enum class SshStatus {
  kOk,            // the remote command exited 0 (WriteFile: written)
  kRemoteFailed,  // it ran and exited 1-254 (RunResult::exit_code)
  kTimedOut,      // no end within the timeout: ssh was killed
  kConnect,       // no connection: refused, timed out, unknown name, ...
  kAuth,          // the host refused every key ("Permission denied")
  kHostKey,       // the host key is unknown or changed (strict checking)
  kError,         // ssh failed otherwise, could not start, or bad input
};

class SshClient {
 public:
  // Longest control_dir whose sockets still fit in sockaddr_un::sun_path.
  static constexpr size_t kMaxControlDirLength = 107 - 1 - 40 - 17;

  // Keeps `runner` and `fs`, which must outlive it.
  SshClient(ProcessRunner* runner, FileSystem* fs, SshOptions options);

  // Runs `argv` on `host` (each argument quoted, see above). *out gets the
  // exit code and the output (the remote command's and ssh's, interleaved).
  // Every status but kOk sets *err, naming the host:
  //   `systemctl is-active x.service` on root@127.0.0.2 exited 3: inactive
  SshStatus Run(const SshDestination& host,
                const std::vector<std::string>& argv, int64_t timeout_ms,
                RunResult* out, std::string* err);
  // Writes `contents` (sent on ssh's stdin) to the absolute `path` on
  // `host` atomically: into a new temporary file in the same folder
  // (mktemp: .NAME.tmp.XXXXXXXXXXXXXXXX), fsynced, given `mode`, renamed over
  // `path` (a symbolic link there is replaced, not followed), then the
  // folder is fsynced. On failure the temporary file is removed. kOk when
  // written; kRemoteFailed (with the remote message) when it could not be.
  SshStatus WriteFile(const SshDestination& host, const std::string& path,
                      const std::string& contents, int mode, int64_t timeout_ms,
                      std::string* err);
  // True while a master connection to `host` runs (`ssh -O check`).
  bool MasterRunning(const SshDestination& host);
  // Ends the master connection of every host this client has run a command
  // on (`ssh -O exit`), whatever state it is in. Call at the end of every
  // bgctl command; safe to call again.
  void CloseAll();

  // The ssh argv that runs `remote` (already quoted) on `host`.
  std::vector<std::string> Argv(const SshDestination& host,
                                const std::string& remote) const;

 private:
  bool Prepare(std::string* err);
  // ssh and its options, up to (not including) the destination.
  std::vector<std::string> Options(const SshDestination& host) const;
  SshStatus Finish(const SshDestination& host, const std::string& what,
                   const RunResult& result, std::string* err);

  ProcessRunner* runner_;
  FileSystem* fs_;
  SshOptions options_;
  std::mutex mu_;
  bool prepared_ = false;
  std::set<std::vector<std::string>> used_;  // Argv(host, "") of each host
};

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_SSH_H_
