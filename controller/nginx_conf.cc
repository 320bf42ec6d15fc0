#include "controller/nginx_conf.h"

#include <fnmatch.h>

#include <algorithm>

#include "controller/text.h"

namespace bgctl {

namespace {

const char kFileHeader[] = "# configuration file ";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() &&
         s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Blocks that hold data (key value pairs) rather than directives.
bool IsDataBlock(const std::string& name) {
  return name == "map" || name == "geo" || name == "types" ||
         name == "split_clients" || name == "charset_map";
}

// nginx's lexer over one file (ngx_conf_read_token), building directives.
class Lexer {
 public:
  Lexer(const std::string& text, const std::string& path, std::string* err)
      : text_(text), path_(path), err_(err) {}

  // Parses directives until the end of the file (depth 0) or a '}'; with
  // `out` null they are checked and dropped.
  bool Parse(std::vector<NginxDirective>* out, int depth, int open_line) {
    if (depth > kMaxNginxBlockDepth)
      return Fail(open_line, "blocks nested more than " +
                                 std::to_string(kMaxNginxBlockDepth) +
                                 " deep: bgctl reads no deeper");
    NginxDirective d;
    bool have = false;
    for (;;) {
      SkipSpaceAndComments();
      if (pos_ >= text_.size()) {
        if (have)
          return Fail(d.line,
                      "directive \"" + d.name + "\" has no closing \";\"");
        if (depth > 0) return Fail(open_line, "unterminated block");
        return true;
      }
      char c = text_[pos_];
      if (c == ';' || c == '{') {
        if (!have) return Fail(line_, std::string("unexpected \"") + c + "\"");
        ++pos_;
        if (c == '{') {
          d.block = true;
          int block_line = line_;
          if (EndsWith(d.name, "_by_lua_block")) {
            if (!ReadLua(&d.lua, block_line)) return false;
          } else if (!Parse(out == nullptr || IsDataBlock(d.name) ? nullptr
                                                                  : &d.children,
                            depth + 1, block_line)) {
            return false;
          }
        }
        if (out != nullptr) out->push_back(std::move(d));
        d = NginxDirective();
        have = false;
        continue;
      }
      if (c == '}') {
        if (have)
          return Fail(d.line,
                      "directive \"" + d.name + "\" has no closing \";\"");
        if (depth == 0) return Fail(line_, "unexpected \"}\"");
        ++pos_;
        return true;
      }
      std::string word;
      int word_line = line_;
      if (!ReadWord(&word)) return false;
      if (!have) {
        d.name = word;
        if (out != nullptr) d.file = path_;
        d.line = word_line;
        have = true;
      } else if (out != nullptr) {
        d.args.push_back(word);
      }
    }
  }

 private:
  bool Fail(int line, const std::string& problem) {
    *err_ = path_ + ":" + std::to_string(line) + ": " + problem;
    return false;
  }

  void Advance() {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }

  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      if (IsSpace(text_[pos_])) {
        Advance();
      } else if (text_[pos_] == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  // A quoted or bare word; quotes removed, backslash escapes kept.
  bool ReadWord(std::string* word) {
    char quote = text_[pos_];
    if (quote == '"' || quote == '\'') {
      int start_line = line_;
      Advance();
      while (pos_ < text_.size() && text_[pos_] != quote) {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
          *word += text_[pos_];
          Advance();
        }
        *word += text_[pos_];
        Advance();
      }
      if (pos_ >= text_.size()) return Fail(start_line, "unterminated string");
      Advance();
      return true;
    }
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (IsSpace(c) || c == ';' || c == '}') break;
      if (c == '{' && !(word->size() > 0 && word->back() == '$')) break;
      if (c == '{') {  // ${name}: part of the word
        while (pos_ < text_.size() && text_[pos_] != '}') {
          *word += text_[pos_];
          Advance();
        }
        if (pos_ < text_.size()) {
          *word += '}';
          Advance();
        }
        continue;
      }
      if (c == '\\' && pos_ + 1 < text_.size()) {
        *word += c;
        Advance();
      }
      *word += text_[pos_];
      Advance();
    }
    return true;
  }

  // A Lua long bracket "[[" or "[==[" at pos_: its level, or -1.
  int LongBracketLevel() const {
    if (text_[pos_] != '[') return -1;
    size_t p = pos_ + 1;
    int level = 0;
    while (p < text_.size() && text_[p] == '=') ++p, ++level;
    return p < text_.size() && text_[p] == '[' ? level : -1;
  }

  void SkipLongBracket(int level) {
    std::string close = "]" + std::string(level, '=') + "]";
    while (pos_ < text_.size() && text_.compare(pos_, close.size(), close))
      Advance();
    for (size_t i = 0; i < close.size() && pos_ < text_.size(); ++i) Advance();
  }

  // The body of a *_by_lua_block: balanced braces, skipping Lua strings,
  // long brackets and comments, as the Lua module's lexer does.
  bool ReadLua(std::string* lua, int open_line) {
    size_t start = pos_;
    int depth = 1;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '-' && text_.compare(pos_, 2, "--") == 0) {
        pos_ += 2;
        int level = pos_ < text_.size() ? LongBracketLevel() : -1;
        if (level >= 0) {
          SkipLongBracket(level);
        } else {
          while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
        }
      } else if (c == '"' || c == '\'') {
        Advance();
        while (pos_ < text_.size() && text_[pos_] != c) {
          if (text_[pos_] == '\\') Advance();
          if (pos_ < text_.size()) Advance();
        }
        if (pos_ < text_.size()) Advance();
      } else if (int level = LongBracketLevel(); level >= 0) {
        SkipLongBracket(level);
      } else if (c == '{') {
        ++depth;
        Advance();
      } else if (c == '}') {
        if (--depth == 0) {
          *lua = text_.substr(start, pos_ - start);
          ++pos_;
          return true;
        }
        Advance();
      } else {
        Advance();
      }
    }
    return Fail(open_line, "unterminated Lua block");
  }

  const std::string& text_;
  std::string path_;
  std::string* err_;
  size_t pos_ = 0;
  int line_ = 1;
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct ParsedFile {
  std::string path;
  std::vector<NginxDirective> directives;
};

// Replaces includes by the directives of the files they name, counting
// every directive it writes: includes that name files several times over
// (or a file that includes itself) could otherwise multiply without end.
class Expander {
 public:
  Expander(const std::vector<ParsedFile>& files, const std::string& conf_dir,
           size_t max_directives, std::string* err)
      : files_(files),
        conf_dir_(conf_dir),
        err_(err),
        max_(max_directives),
        left_(max_directives) {}

  bool Expand(const std::vector<NginxDirective>& in,
              std::vector<NginxDirective>* out, int depth) {
    for (const NginxDirective& d : in) {
      std::vector<const ParsedFile*> matched;
      if (d.name == "include" && d.args.size() == 1 && depth < 32)
        matched = Matches(d.args[0]);
      if (!matched.empty()) {
        for (const ParsedFile* f : matched)
          if (!Expand(f->directives, out, depth + 1)) return false;
        continue;
      }
      if (left_-- == 0) {
        *err_ = WhereIs(d) + ": the configuration expands to more than " +
                std::to_string(max_) +
                " directives (includes that repeat files?): bgctl reads no "
                "more";
        return false;
      }
      // Everything but the children, which are expanded in turn.
      NginxDirective copy;
      copy.name = d.name;
      copy.args = d.args;
      copy.file = d.file;
      copy.line = d.line;
      copy.block = d.block;
      copy.lua = d.lua;
      if (!Expand(d.children, &copy.children, depth)) return false;
      out->push_back(std::move(copy));
    }
    return true;
  }

 private:
  // The dumped files `pattern` names, in path order (as nginx expands a
  // glob).
  std::vector<const ParsedFile*> Matches(std::string pattern) const {
    if (pattern.empty() || pattern[0] != '/')
      pattern = conf_dir_ + "/" + pattern;
    std::vector<const ParsedFile*> matched;
    for (const ParsedFile& f : files_)
      if (fnmatch(pattern.c_str(), f.path.c_str(), FNM_PATHNAME) == 0)
        matched.push_back(&f);
    std::sort(matched.begin(), matched.end(),
              [](const ParsedFile* a, const ParsedFile* b) {
                return a->path < b->path;
              });
    return matched;
  }

  const std::vector<ParsedFile>& files_;
  std::string conf_dir_;
  std::string* err_;
  const size_t max_;
  size_t left_;
};

void Walk(
    const std::vector<NginxDirective>& level,
    std::vector<const NginxDirective*>* parents,
    const std::function<void(const NginxDirective&,
                             const std::vector<const NginxDirective*>&)>& fn) {
  for (const NginxDirective& d : level) {
    fn(d, *parents);
    parents->push_back(&d);
    Walk(d.children, parents, fn);
    parents->pop_back();
  }
}

}  // namespace

bool SplitNginxDump(const std::string& output, std::vector<NginxFile>* files,
                    std::string* err) {
  files->clear();
  size_t pos = 0;
  while (pos < output.size()) {
    size_t end = output.find('\n', pos);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(pos, end - pos);
    if (line.rfind(kFileHeader, 0) == 0 && !line.empty() &&
        line.back() == ':') {
      files->push_back(
          {line.substr(sizeof(kFileHeader) - 1,
                       line.size() - (sizeof(kFileHeader) - 1) - 1),
           ""});
    } else if (!files->empty()) {
      files->back().text += line + "\n";
    }
    pos = end + 1;
  }
  if (files->empty()) {
    *err = "nginx -T printed no configuration file";
    return false;
  }
  return true;
}

bool ParseNginxConf(const std::string& text, const std::string& path,
                    std::vector<NginxDirective>* out, std::string* err) {
  out->clear();
  Lexer lexer(text, path, err);
  return lexer.Parse(out, 0, 1);
}

bool EffectiveNginxConf(const std::vector<NginxFile>& files,
                        std::vector<NginxDirective>* out, std::string* err,
                        size_t max_directives) {
  out->clear();
  if (files.empty()) {
    *err = "no configuration file";
    return false;
  }
  std::vector<ParsedFile> parsed;
  for (const NginxFile& f : files) {
    ParsedFile p{f.path, {}};
    if (!ParseNginxConf(f.text, f.path, &p.directives, err)) return false;
    parsed.push_back(std::move(p));
  }
  Expander expander(parsed, DirOf(files[0].path), max_directives, err);
  if (expander.Expand(parsed[0].directives, out, 0)) return true;
  out->clear();
  return false;
}

void WalkNginxConf(
    const std::vector<NginxDirective>& root,
    const std::function<
        void(const NginxDirective& d,
             const std::vector<const NginxDirective*>& parents)>& fn) {
  std::vector<const NginxDirective*> parents;
  Walk(root, &parents, fn);
}

std::vector<const NginxDirective*> InheritedDirectives(
    const std::vector<const NginxDirective*>& levels, const std::string& name) {
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
    std::vector<const NginxDirective*> found;
    for (const NginxDirective& c : (*it)->children)
      if (c.name == name) found.push_back(&c);
    if (!found.empty()) return found;
  }
  return {};
}

std::string WhereIs(const NginxDirective& d) {
  return d.file + ":" + std::to_string(d.line);
}

std::string NginxArg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n;{}#\"'") == std::string::npos)
    return a;
  std::string out = "\"";
  for (char c : a) out += c == '"' ? std::string("\\\"") : std::string(1, c);
  return out + "\"";
}

std::string DirectiveText(const NginxDirective& d) {
  std::string out = d.name;
  for (const std::string& a : d.args) out += " " + NginxArg(a);
  return out + ";";
}

bool ParseListen(const NginxDirective& listen, NginxListen* out) {
  if (listen.args.empty() || listen.args[0].empty()) return false;
  NginxListen l;
  for (size_t i = 1; i < listen.args.size(); ++i) {
    const std::string& a = listen.args[i];
    l.tls |= a == "ssl" || a == "quic";
    l.is_default |= a == "default_server" || a == "default";
  }
  const std::string& addr = listen.args[0];
  std::string port;  // as written, when the address has one
  bool has_port = true;
  if (addr.rfind("unix:", 0) == 0) {
    l.unix_socket = true;
    l.host = addr.substr(5);
    l.port = 0;
    has_port = false;
  } else if (addr[0] == '[') {
    size_t close = addr.find(']');
    if (close == std::string::npos) return false;
    l.ipv6 = true;
    l.host = addr.substr(1, close - 1);
    has_port = close + 1 < addr.size();
    if (has_port && addr[close + 1] != ':') return false;
    if (has_port) port = addr.substr(close + 2);
  } else if (size_t colon = addr.rfind(':'); colon != std::string::npos) {
    l.host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
  } else if (addr.find_first_not_of("0123456789") == std::string::npos) {
    port = addr;
  } else {
    l.host = addr;
    has_port = false;
  }
  if (l.host == "*") l.host.clear();
  uint64_t number = 0;
  if (has_port) {  // ParseDecimal refuses "" too
    if (!ParseDecimal(port, &number) || number < 1 || number > 65535)
      return false;
    l.port = static_cast<int>(number);
  }
  *out = l;
  return true;
}

std::vector<std::string> DumpCommand(
    const std::vector<std::string>& test_command) {
  std::vector<std::string> out;
  bool found = false;
  for (const std::string& a : test_command) {
    if (a == "-t" || a == "-tq" || a == "-qt") {
      out.push_back("-T");
      found = true;
    } else if (a != "-q") {
      out.push_back(a);
    }
  }
  if (!found) out.clear();
  return out;
}

bool DumpNginxConf(ProcessRunner* runner,
                   const std::vector<std::string>& test_command,
                   const std::string& workdir, std::vector<NginxFile>* files,
                   std::string* err) {
  std::vector<std::string> argv = DumpCommand(test_command);
  if (argv.empty()) {
    *err = "nginx.test_command has no -t: cannot derive `nginx -T` from it";
    return false;
  }
  RunResult r;
  if (!runner->RunKeeping(argv, workdir, 30000, kMaxNginxDumpBytes, &r, err)) {
    *err = "nginx -T failed: " + *err;
    return false;
  }
  if (r.output_bytes > r.output.size()) {
    *err = "nginx -T printed " + std::to_string(r.output_bytes) +
           " bytes, more than bgctl reads (" +
           std::to_string(kMaxNginxDumpBytes) +
           "): the configuration is too large to check";
    return false;
  }
  if (r.timed_out || r.exit_code != 0) {
    std::string output = r.output;
    while (!output.empty() && output.back() == '\n') output.pop_back();
    *err = "nginx -T failed: " +
           (r.timed_out      ? std::string("timed out")
            : output.empty() ? "exit code " + std::to_string(r.exit_code)
                             : output);
    return false;
  }
  if (!SplitNginxDump(r.output, files, err)) return false;
  // nginx names a file as it opened it: relative to `workdir` when the
  // command's -p or -c is relative.
  for (NginxFile& f : *files)
    if (!workdir.empty() && !f.path.empty() && f.path[0] != '/')
      f.path = workdir + "/" + f.path;
  return true;
}

}  // namespace bgctl
