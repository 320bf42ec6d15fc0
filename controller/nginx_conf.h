// Reading nginx's effective configuration as `nginx -T` prints it: every
// file nginx read, each after a "# configuration file PATH:" line, parsed
// into directives that know their file and line, with `include` replaced by
// what the included files hold. `bgctl validate` checks a user's config with
// it and `bgctl init` finds the location that proxies a service. A parser of
// nginx's syntax only: it never evaluates variables or conditions.
#ifndef BGCTL_CONTROLLER_NGINX_CONF_H_
#define BGCTL_CONTROLLER_NGINX_CONF_H_

#include <functional>
#include <string>
#include <vector>

#include "controller/env.h"

namespace bgctl {

// One directive: `name args...;` or `name args... { children }`.
struct NginxDirective {
  std::string name;
  std::vector<std::string> args;  // quotes removed, escapes kept as written
  std::string file;               // the file it is written in
  int line = 0;                   // 1-based line of its name
  bool block = false;             // had a { ... } block
  // The directives of the block. The entries of a block of data (map, geo,
  // types, split_clients, charset_map) are not directives: they are checked
  // for syntax and not kept.
  std::vector<NginxDirective> children;
  // The text between the braces of a *_by_lua_block directive (Lua, not
  // nginx syntax: never parsed into children).
  std::string lua;
};

// One file of a dump.
struct NginxFile {
  std::string path;
  std::string text;
};

// Splits `nginx -T` output (stdout and stderr together) into its files, in
// order; the first one is the main configuration. Lines before the first
// "# configuration file" line (nginx's "syntax is ok" messages) are
// dropped. False with *err when there is no file in it.
bool SplitNginxDump(const std::string& output, std::vector<NginxFile>* files,
                    std::string* err);

// How deep blocks may nest in one file (nginx's own configs nest a few
// levels: http, server, location, if). Deeper is an error, so that no input
// can exhaust the stack of the recursive parser.
constexpr int kMaxNginxBlockDepth = 100;

// Parses one file's text. False with *err = "PATH:LINE: problem" for an
// unterminated string or block, a '}' without '{', a directive without
// ';' at the end of the file, or blocks nested deeper than
// kMaxNginxBlockDepth (LINE is the deepest block's opening line).
bool ParseNginxConf(const std::string& text, const std::string& path,
                    std::vector<NginxDirective>* out, std::string* err);

// The most directives EffectiveNginxConf returns (map and similar entries
// do not count: they are not kept).
constexpr size_t kMaxNginxDirectives = 1000000;

// Parses every file and returns the main file's directives with each
// `include PATTERN;` replaced by the directives of the dumped files the
// pattern names (glob patterns; a relative pattern is relative to the main
// file's folder), in path order, recursively (32 includes deep at most). An
// include that names no dumped file is kept as it is. False with *err on a
// parse error, or when the includes expand to more than
// kMaxNginxDirectives directives ("FILE:LINE: the configuration expands
// to more than ..."; `max_directives` lowers the bound for tests).
bool EffectiveNginxConf(const std::vector<NginxFile>& files,
                        std::vector<NginxDirective>* out, std::string* err,
                        size_t max_directives = kMaxNginxDirectives);

// Calls `fn` for every directive under `root`, depth first, with the
// chain of blocks it sits in (outermost first).
void WalkNginxConf(const std::vector<NginxDirective>& root,
                   const std::function<void(
                       const NginxDirective& d,
                       const std::vector<const NginxDirective*>& parents)>& fn);

// The directives named `name` in effect inside the innermost of `levels`
// (blocks, outermost first): those of the innermost level that has any, as
// nginx inherits array-valued settings (access_log, proxy_set_header) a
// whole level at a time. Empty when no level has one.
std::vector<const NginxDirective*> InheritedDirectives(
    const std::vector<const NginxDirective*>& levels, const std::string& name);

// "FILE:LINE" of a directive.
std::string WhereIs(const NginxDirective& d);

// An argument as nginx reads it back: quoted when empty or when it holds
// whitespace or a character nginx's syntax gives a meaning to.
std::string NginxArg(const std::string& arg);

// A directive without a block as a line of nginx's syntax: "name args...;".
std::string DirectiveText(const NginxDirective& d);

// What a `listen` directive listens on, read as nginx reads its address:
// "ADDR:PORT", "PORT", "ADDR" (port 80), "[IPV6]:PORT", "[IPV6]",
// "unix:PATH"; and the parameters bgctl cares about.
struct NginxListen {
  std::string host;  // as written, IPv6 without brackets; "" for "*" or none
  int port = 80;     // 0 for a unix socket
  bool unix_socket = false;
  bool ipv6 = false;
  bool tls = false;         // ssl or quic
  bool is_default = false;  // default_server (or nginx's older "default")
};

// False when the directive has no address, or a port that is not a number
// in 1..65535.
bool ParseListen(const NginxDirective& listen, NginxListen* out);

// The argv that dumps the configuration `test_command` tests: the same
// program and options, with -t (or -tq) replaced by -T and -q dropped.
// Empty when test_command has no -t.
std::vector<std::string> DumpCommand(
    const std::vector<std::string>& test_command);

// The most `nginx -T` output DumpNginxConf reads (64 MiB).
constexpr size_t kMaxNginxDumpBytes = size_t{64} << 20;

// Runs DumpCommand(test_command) in `workdir` and splits its output; a file
// name nginx printed relative (a relative -p or -c) is made relative to
// `workdir` ("": left as printed). False with *err ("nginx -T failed:
// <output>") when it cannot run or fails, and ("nginx -T printed N bytes,
// more than bgctl reads (67108864): ...") when its output is larger than
// kMaxNginxDumpBytes: never a configuration cut short.
bool DumpNginxConf(ProcessRunner* runner,
                   const std::vector<std::string>& test_command,
                   const std::string& workdir, std::vector<NginxFile>* files,
                   std::string* err);

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_NGINX_CONF_H_
