// Fakes of every env.h interface, for fast and exact unit tests of the code
// that drives a rollout (rollout.cc, operations.cc, transitions.cc) on top of
// a real Nginx, Reporter, LogFollower and canary judge. Header-only and
// included only by tests: nothing here is compiled into bgctl_core.
//
//   FakeClock          time moves only when the code sleeps; tasks run "at T"
//   FakeFileSystem     an in-memory map of files; paths can be made to fail
//   FakeProcessRunner  spawned processes are records (pids 1000, 1001, ...)
//                      whose life the test controls; Run() is scripted
//   FakeHttpProbe      answers per port+path: sequences of statuses, errors,
//                      or a handler
//   FakeNginx          a running nginx in the fakes: the test and reload
//                      commands, and the generation probe answering the
//                      generation of the last reload that took effect
//   FakeSystemd        systemd's units in the fakes: systemctl and
//                      journalctl answered, units read from the fake files
//
// All fakes record what they were asked into vectors the test inspects, and
// optionally into one shared journal (ordered across fakes). None of them is
// thread-safe.
#ifndef BGCTL_CONTROLLER_FAKE_ENV_H_
#define BGCTL_CONTROLLER_FAKE_ENV_H_

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "controller/config.h"
#include "controller/env.h"
#include "controller/http_post.h"
#include "controller/sockets.h"
#include "controller/traffic_switch.h"

namespace bgctl::fake {

// Joins argv with single spaces (for journals and keys).
inline std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

// The entries of `journal` that start with `prefix`, in order.
inline std::vector<std::string> Filter(const std::vector<std::string>& journal,
                                       const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& e : journal)
    if (e.compare(0, prefix.size(), prefix) == 0) out.push_back(e);
  return out;
}

// Time passes only in SleepMs. WallMs is NowMs plus a fixed offset. Tasks
// registered with At() run after the sleep that reaches their time, in time
// order (a task may register more tasks). To bound every loop of the code
// under test, SleepMs throws std::runtime_error once the clock passes
// limit_ms of fake time since construction (Catch2 reports it as a failure).
class FakeClock : public Clock {
 public:
  static constexpr int64_t kStartMs = 1000;
  static constexpr int64_t kWallOffsetMs = 1'700'000'000'000;

  int64_t NowMs() override { return now_; }
  int64_t WallMs() override { return kWallOffsetMs + now_; }
  void SleepMs(int64_t ms) override {
    if (ms > 0) now_ += ms;
    ++sleeps_;
    if (now_ - kStartMs > limit_ms_)
      throw std::runtime_error("FakeClock: more than " +
                               std::to_string(limit_ms_) +
                               " ms of fake time passed");
    RunDue();
  }

  // Runs `fn` after the first sleep that brings the clock to `at_ms` or
  // later (at once on the next sleep if that time has passed).
  void At(int64_t at_ms, std::function<void()> fn) {
    tasks_.emplace(at_ms, std::move(fn));
  }
  // Runs `fn` `delay_ms` from now.
  void After(int64_t delay_ms, std::function<void()> fn) {
    At(now_ + delay_ms, std::move(fn));
  }
  // Calls `fn` after every sleep (after the due tasks); nullptr removes it.
  void set_on_sleep(std::function<void()> fn) { on_sleep_ = std::move(fn); }
  void set_limit_ms(int64_t ms) { limit_ms_ = ms; }
  // Time passes without a sleep of the code (a call that takes time); due
  // tasks run.
  void Advance(int64_t ms) {
    now_ += ms;
    RunDue();
  }
  // Puts the clock at `ms` (a test replaying a sequence from its start).
  void SetNowMs(int64_t ms) { now_ = ms; }

  int64_t sleeps() const { return sleeps_; }
  size_t pending_tasks() const { return tasks_.size(); }

 private:
  void RunDue() {
    while (!tasks_.empty() && tasks_.begin()->first <= now_) {
      std::function<void()> fn = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
      fn();
    }
    if (on_sleep_) on_sleep_();
  }

  int64_t now_ = kStartMs;
  int64_t sleeps_ = 0;
  int64_t limit_ms_ = 3'600'000;
  std::multimap<int64_t, std::function<void()>> tasks_;
  std::function<void()> on_sleep_;
};

// The real clock with a fixed wall time (2023-11-14T22:13:20Z), for real
// processes whose log banner names the time.
class FixedWallClock : public Clock {
 public:
  int64_t NowMs() override { return RealClock()->NowMs(); }
  int64_t WallMs() override { return 1700000000000; }
  void SleepMs(int64_t ms) override { RealClock()->SleepMs(ms); }
};

// Files in a map. Folders are remembered but not required: a file can be
// written anywhere. Paths told to Fail() fail every operation with
// "<what> PATH: <reason>". Every WriteFileAtomic is recorded in writes().
class FakeFileSystem : public FileSystem {
 public:
  struct Write {
    std::string path;
    std::string contents;
    int mode = 0;
    int64_t at_ms = 0;
  };

  explicit FakeFileSystem(Clock* clock = nullptr,
                          std::vector<std::string>* journal = nullptr)
      : clock_(clock), journal_(journal) {}

  bool ReadFile(const std::string& path, std::string* contents,
                std::string* err) override {
    if (Failing(path, "cannot read", err)) return false;
    auto it = files.find(path);
    if (it == files.end()) {
      *err = "cannot read " + path + ": No such file or directory";
      return false;
    }
    *contents = it->second;
    return true;
  }
  bool Exists(const std::string& path) override {
    return files.count(path) > 0 || dirs.count(path) > 0;
  }
  bool WriteFileAtomic(const std::string& path, const std::string& contents,
                       std::string* err, int mode = 0644) override {
    if (Failing(path, "cannot write", err)) return false;
    if (on_write) on_write(path, contents);
    files[path] = contents;
    writes_.push_back({path, contents, mode, clock_ ? clock_->NowMs() : 0});
    if (journal_) journal_->push_back("write " + path);
    return true;
  }
  bool AppendLine(const std::string& path, const std::string& line,
                  std::string* err) override {
    if (Failing(path, "cannot append to", err)) return false;
    files[path] += line;
    if (journal_) journal_->push_back("append " + path);
    return true;
  }
  bool MakeDirs(const std::string& path, int mode, std::string* err) override {
    if (Failing(path, "cannot create folder", err)) return false;
    dirs.insert(path);
    dir_modes[path] = mode;
    return true;
  }
  bool Remove(const std::string& path, std::string* err) override {
    if (Failing(path, "cannot remove", err)) return false;
    files.erase(path);
    if (journal_) journal_->push_back("remove " + path);
    return true;
  }

  // Every operation on `path` fails with `reason` until Heal(path).
  void Fail(const std::string& path,
            const std::string& reason = "Input/output error") {
    failing_[path] = reason;
  }
  void Heal(const std::string& path) { failing_.erase(path); }

  const std::vector<Write>& writes() const { return writes_; }
  // The contents of every WriteFileAtomic to `path`, in order.
  std::vector<std::string> WritesTo(const std::string& path) const {
    std::vector<std::string> out;
    for (const Write& w : writes_)
      if (w.path == path) out.push_back(w.contents);
    return out;
  }
  // The file's contents, or "" when it does not exist.
  std::string Contents(const std::string& path) const {
    auto it = files.find(path);
    return it == files.end() ? "" : it->second;
  }

  std::map<std::string, std::string> files;
  std::set<std::string> dirs;
  std::map<std::string, int> dir_modes;
  // Called before a WriteFileAtomic that will succeed stores its contents.
  std::function<void(const std::string& path, const std::string& contents)>
      on_write;

 private:
  bool Failing(const std::string& path, const char* what, std::string* err) {
    auto it = failing_.find(path);
    if (it == failing_.end()) return false;
    *err = std::string(what) + " " + path + ": " + it->second;
    return true;
  }

  Clock* clock_;
  std::vector<std::string>* journal_;
  std::map<std::string, std::string> failing_;
  std::vector<Write> writes_;
};

// A process the fake runner "started".
struct FakeProcess {
  ProcessId id;
  SpawnSpec spec;
  bool alive = true;
  // Keeps running after any signal but SIGKILL (a backend that ignores the
  // drain signal).
  bool ignores_drain = false;
  // Keeps running after SIGKILL too (a process stuck in the kernel).
  bool survives_kill = false;
  // With a clock: exits this long after the first non-KILL signal instead
  // of at once (a drain that takes time).
  int64_t drain_ms = 0;
  int64_t cpu_ms = 0;
  int64_t started_at_ms = 0;
  std::vector<int> signals;  // every signal it received, in order
};

// Spawn gives pids 1000, 1001, ... (start time pid * 7) and records the spec.
// A process lives until Exit(pid) or a signal ends it: by default any signal
// ends it at once. Run() answers, in order: the first handler that takes the
// argv, then a result scripted for "argv[0] argv[1]", then for "argv[0]",
// else exit 0 with no output.
class FakeProcessRunner : public ProcessRunner {
 public:
  struct Signalled {
    int pid = 0;
    int sig = 0;
    int64_t at_ms = 0;
  };
  struct RunCall {
    std::vector<std::string> argv;
    std::string workdir;
    int64_t timeout_ms = 0;
    int64_t at_ms = 0;
    std::string stdin_data;  // RunWithInput's input; "" for Run
  };
  // Returns true when it handled the command (and filled *out).
  using RunHandler =
      std::function<bool(const std::vector<std::string>& argv, RunResult* out)>;

  explicit FakeProcessRunner(FakeClock* clock = nullptr,
                             std::vector<std::string>* journal = nullptr)
      : clock_(clock), journal_(journal) {}

  bool Spawn(const SpawnSpec& spec, ProcessId* id, std::string* err) override {
    if (!spawn_error.empty()) {
      *err = spawn_error;
      return false;
    }
    FakeProcess& p = NewProcess(next_pid++);
    p.spec = spec;
    spawned_.push_back(p.id.pid);
    *id = p.id;
    Log("spawn " + std::to_string(p.id.pid) + " " + JoinArgv(spec.argv));
    if (on_spawn) on_spawn(&p);
    return true;
  }
  bool IsAlive(const ProcessId& id) override {
    FakeProcess* p = Find(id);
    return p != nullptr && p->alive;
  }
  bool Signal(const ProcessId& id, int sig, std::string* err) override {
    FakeProcess* p = Find(id);
    if (p == nullptr || !p->alive) {
      *err = "process " + std::to_string(id.pid) + " is not running";
      return false;
    }
    p->signals.push_back(sig);
    signals_.push_back({id.pid, sig, Now()});
    Log("signal " + std::to_string(id.pid) + " " + std::to_string(sig));
    if (sig == SIGKILL) {
      p->alive = p->survives_kill;
    } else if (!p->ignores_drain && p->signals.size() == 1) {
      if (p->drain_ms > 0 && clock_ != nullptr) {
        int pid = p->id.pid;
        clock_->After(p->drain_ms, [this, pid] { Exit(pid); });
      } else {
        p->alive = false;
      }
    }
    return true;
  }
  bool CpuTimeMs(const ProcessId& id, int64_t* ms) override {
    FakeProcess* p = Find(id);
    if (p == nullptr || !p->alive) return false;
    *ms = p->cpu_ms;
    return true;
  }
  std::vector<ProcessId> FindByEnv(const std::string& name,
                                   const std::string& value) override {
    std::vector<ProcessId> out;
    for (const auto& [pid, p] : procs_) {
      auto it = p.spec.env.find(name);
      if (p.alive && it != p.spec.env.end() && it->second == value)
        out.push_back(p.id);
    }
    return out;
  }
  bool RunWithEnv(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env,
                  const std::string& workdir, int64_t timeout_ms,
                  RunResult* out, std::string* err) override {
    run_envs_[runs_.size()] = env;
    return Run(argv, workdir, timeout_ms, out, err);
  }
  // The environment RunWithEnv added to run number `index` (empty for
  // Run).
  std::map<std::string, std::string> RunEnv(size_t index) const {
    auto it = run_envs_.find(index);
    return it == run_envs_.end() ? std::map<std::string, std::string>()
                                 : it->second;
  }
  bool Run(const std::vector<std::string>& argv, const std::string& workdir,
           int64_t timeout_ms, RunResult* out, std::string* err) override {
    return RunWithInput(argv, workdir, "", timeout_ms, out, err);
  }
  // Recorded (RunCall::stdin_data) and answered as Run() is.
  bool RunWithInput(const std::vector<std::string>& argv,
                    const std::string& workdir, const std::string& stdin_data,
                    int64_t timeout_ms, RunResult* out,
                    std::string* err) override {
    runs_.push_back({argv, workdir, timeout_ms, Now(), stdin_data});
    Log("run " + JoinArgv(argv));
    if (!run_error.empty()) {
      *err = run_error;
      return false;
    }
    *out = RunResult{0, false, ""};
    for (const RunHandler& h : handlers_)
      if (h(argv, out)) return true;
    if (argv.size() >= 2) {
      auto it = scripted_.find(argv[0] + " " + argv[1]);
      if (it != scripted_.end()) {
        *out = it->second;
        return true;
      }
    }
    if (!argv.empty()) {
      auto it = scripted_.find(argv[0]);
      if (it != scripted_.end()) *out = it->second;
    }
    return true;
  }

  // A process that already runs (not recorded as spawned), e.g. the stable
  // instance a test starts from. Pids from 500 up.
  ProcessId Adopt() { return NewProcess(next_adopted_pid_++).id; }
  // The process exits (crashes) now.
  void Exit(int pid) {
    auto it = procs_.find(pid);
    if (it != procs_.end() && it->second.alive) {
      it->second.alive = false;
      Log("exit " + std::to_string(pid));
    }
  }
  // Every later run of "argv[0] argv[1]" (or "argv[0]") gets `result`.
  void Script(const std::string& key, RunResult result) {
    scripted_[key] = std::move(result);
  }
  void AddHandler(RunHandler h) { handlers_.push_back(std::move(h)); }

  // Precondition: `pid` was spawned or adopted.
  FakeProcess& Process(int pid) { return procs_.at(pid); }
  bool Has(int pid) const { return procs_.count(pid) > 0; }
  const std::vector<int>& spawned() const { return spawned_; }
  const std::vector<Signalled>& signals() const { return signals_; }
  const std::vector<RunCall>& runs() const { return runs_; }
  // The argv of every Run() call, in order.
  std::vector<std::vector<std::string>> RunArgvs() const {
    std::vector<std::vector<std::string>> out;
    for (const RunCall& r : runs_) out.push_back(r.argv);
    return out;
  }
  // The argv (joined) of every Run() call, in order.
  std::vector<std::string> RunLines() const {
    std::vector<std::string> out;
    for (const RunCall& r : runs_) out.push_back(JoinArgv(r.argv));
    return out;
  }

  int next_pid = 1000;
  std::string spawn_error;  // non-empty: Spawn fails with it
  std::string run_error;    // non-empty: Run cannot start anything
  // Called after each successful Spawn (e.g. to make the new process crash
  // or to write its log).
  std::function<void(FakeProcess*)> on_spawn;

 private:
  FakeProcess& NewProcess(int pid) {
    FakeProcess& p = procs_[pid];
    p.id.pid = pid;
    p.id.start_time = static_cast<uint64_t>(pid) * 7;
    p.started_at_ms = Now();
    return p;
  }
  FakeProcess* Find(const ProcessId& id) {
    auto it = procs_.find(id.pid);
    if (it == procs_.end() || it->second.id.start_time != id.start_time)
      return nullptr;
    return &it->second;
  }
  int64_t Now() const { return clock_ ? clock_->NowMs() : 0; }
  void Log(const std::string& entry) {
    if (journal_) journal_->push_back(entry);
  }

  FakeClock* clock_;
  std::vector<std::string>* journal_;
  int next_adopted_pid_ = 500;
  std::map<int, FakeProcess> procs_;
  std::vector<int> spawned_;
  std::vector<Signalled> signals_;
  std::vector<RunCall> runs_;
  std::map<size_t, std::map<std::string, std::string>> run_envs_;
  std::vector<RunHandler> handlers_;
  std::map<std::string, RunResult> scripted_;
};

// Answers GET per port and path (the host is recorded, not matched). A
// route answers with its handler; a port+path without a route fails with
// "connection refused". POST has its own routes (RoutePost), with the body.
class FakeHttpProbe : public HttpProbe, public HttpPoster {
 public:
  using Handler = std::function<bool(HttpResponse* out, std::string* err)>;
  using PostHandler = std::function<bool(const std::string& body,
                                         HttpResponse* out, std::string* err)>;
  struct Call {
    std::string host;
    int port = 0;
    std::string path;
    int64_t timeout_ms = 0;
    int64_t at_ms = 0;  // the clock when it was asked (0 without a clock)
    std::string method = "GET";
    std::string body;                            // of a POST
    std::map<std::string, std::string> headers;  // of a POST
  };

  // An unrouted POST is refused (PostFailure::kNotSent); a handler that
  // returns false got no answer (kNoAnswer).
  bool Post(const std::string& host, int port, const std::string& path,
            const std::string& body,
            const std::map<std::string, std::string>& headers,
            int64_t timeout_ms, HttpResponse* out, PostFailure* failure,
            std::string* err) override {
    calls_.push_back({host, port, path, timeout_ms,
                      clock_ ? clock_->NowMs() : 0, "POST", body, headers});
    auto it = post_routes_.find({port, path});
    if (it == post_routes_.end()) {
      *failure = PostFailure::kNotSent;
      *err = "POST http://" + host + ":" + std::to_string(port) + path +
             ": connection refused";
      return false;
    }
    *failure = PostFailure::kNoAnswer;
    return it->second(body, out, err);
  }
  void RoutePost(int port, const std::string& path, PostHandler h) {
    post_routes_[{port, path}] = std::move(h);
  }
  void UnroutePost(int port, const std::string& path) {
    post_routes_.erase({port, path});
  }

  // With a clock, answers may take time (Answer::latency_ms).
  explicit FakeHttpProbe(FakeClock* clock = nullptr) : clock_(clock) {}

  bool Get(const std::string& host, int port, const std::string& path,
           int64_t timeout_ms, HttpResponse* out, std::string* err) override {
    calls_.push_back({host,
                      port,
                      path,
                      timeout_ms,
                      clock_ ? clock_->NowMs() : 0,
                      "GET",
                      "",
                      {}});
    auto it = routes_.find({port, path});
    bool ok = false;
    if (it == routes_.end()) {
      *err = "GET http://" + host + ":" + std::to_string(port) + path +
             ": connection refused";
    } else {
      ok = it->second(out, err);
    }
    if (on_get) on_get(static_cast<int>(calls_.size()) - 1);
    return ok;
  }
  // Called after every GET with its index (0, 1, ...), e.g. to make a
  // process die while it is being checked.
  std::function<void(int call)> on_get;

  void Route(int port, const std::string& path, Handler h) {
    routes_[{port, path}] = std::move(h);
  }
  // Answers the statuses in order, then the last one forever.
  void Statuses(int port, const std::string& path, std::vector<int> statuses) {
    auto queue =
        std::make_shared<std::deque<int>>(statuses.begin(), statuses.end());
    Route(port, path, [queue](HttpResponse* out, std::string*) {
      out->status = queue->front();
      out->body.clear();
      if (queue->size() > 1) queue->pop_front();
      return true;
    });
  }
  // One scripted answer: a status and body, or (ok false) a failure with
  // `body` as the error.
  struct Answer {
    bool ok = true;
    int status = 200;
    std::string body;
    int64_t latency_ms = 0;  // with a clock: the answer takes this long
  };
  // Answers from `*answers` in order, the last one for ever; the test may
  // change the deque at any time.
  void Answers(int port, const std::string& path, std::deque<Answer>* answers) {
    Route(port, path, [this, answers](HttpResponse* out, std::string* err) {
      Answer a = answers->front();
      if (answers->size() > 1) answers->pop_front();
      if (clock_ != nullptr && a.latency_ms > 0) clock_->Advance(a.latency_ms);
      if (!a.ok) {
        *err = a.body;
        return false;
      }
      out->status = a.status;
      out->body = a.body;
      return true;
    });
  }
  void Unroute(int port, const std::string& path) {
    routes_.erase({port, path});
  }
  // How many GETs reached port+path.
  int Count(int port, const std::string& path) const {
    int n = 0;
    for (const Call& c : calls_)
      if (c.port == port && c.path == path && c.method == "GET") ++n;
    return n;
  }
  const std::vector<Call>& calls() const { return calls_; }

 private:
  FakeClock* clock_;
  std::map<std::pair<int, std::string>, Handler> routes_;
  std::map<std::pair<int, std::string>, PostHandler> post_routes_;
  std::vector<Call> calls_;
};

// Plays nginx's processes around a reload: until reloaded() says the reload
// command ran, master 100 and old workers 101 and 102 hold the listener
// (inode 555); each old worker holds it until the clock reaches its release
// time; after the reload the master and new workers 103 and 104 do.
class FakeSocketInspector : public SocketInspector {
 public:
  FakeSocketInspector(Clock* clock, std::function<bool()> reloaded)
      : clock_(clock), reloaded_(std::move(reloaded)) {}
  bool FindListener(const std::string& host, int port, Listener* out,
                    std::string* err) override {
    targets.push_back(host + ":" + std::to_string(port));
    if (on_find) on_find();
    if (!find_error.empty()) {
      *err = find_error;
      return false;
    }
    *out = reloaded_() ? after : before;
    return true;
  }
  bool StillHolds(const SocketHolder& process,
                  const std::vector<uint64_t>& inodes, bool* holds,
                  std::string* err) override {
    checked.push_back(process.pid);
    if (inodes != std::vector<uint64_t>{555}) {
      *err = "wrong inodes";
      return false;
    }
    if (!still_error.empty()) {
      *err = still_error;
      return false;
    }
    auto it = release_at.find(process.pid);
    *holds = it == release_at.end() || clock_->NowMs() < it->second;
    return true;
  }
  Listener before{{555}, {{100, 1, 7000}, {101, 100, 7001}, {102, 100, 7002}}};
  Listener after{{555}, {{100, 1, 7000}, {103, 100, 8003}, {104, 100, 8004}}};
  std::map<int, int64_t> release_at;  // clock time; absent: never
  std::string find_error;
  std::string still_error;
  std::function<void()> on_find;     // called at every FindListener
  std::vector<std::string> targets;  // host:port of every FindListener
  std::vector<int> checked;          // pids passed to StillHolds, in order

 private:
  Clock* clock_;
  std::function<bool()> reloaded_;
};

// A traffic switch that records every split it is asked for, answers with
// scripted outcomes (confirmed when none is left), and serves the
// generation of the last confirmed split. With a journal, each call adds
//   "switch G: W% stable=8081 canary=8082 -> confirmed"
// (ports joined with '+', "-" for an empty side).
class FakeTrafficSwitch : public TrafficSwitch {
 public:
  explicit FakeTrafficSwitch(std::vector<std::string>* journal = nullptr)
      : journal_(journal) {}
  const char* Name() const override { return "fake"; }
  bool PinsRequests() const override { return pins; }
  SwitchResult Apply(const TrafficSplit& split) override {
    splits.push_back(split);
    if (on_apply) on_apply(split);
    SwitchResult r;
    r.outcome = SwitchOutcome::kConfirmed;
    r.confirmed_by = "exact";
    if (!outcomes.empty()) {
      r.outcome = outcomes.front();
      outcomes.pop_front();
    }
    if (r.outcome != SwitchOutcome::kConfirmed)
      r.error = std::string("fake switch: ") + SwitchOutcomeName(r.outcome);
    if (r.outcome == SwitchOutcome::kConfirmed) served = split.generation;
    if (journal_)
      journal_->push_back("switch " + Describe(split) + " -> " +
                          SwitchOutcomeName(r.outcome));
    return r;
  }
  bool ServedGeneration(uint64_t* generation, std::string* err) override {
    if (!probe_error.empty()) {
      *err = probe_error;
      return false;
    }
    *generation = served;
    return true;
  }
  bool TakeoverFloor(uint64_t served_now, uint64_t* floor,
                     std::string* err) override {
    if (takeover_floor == 0)
      return TrafficSwitch::TakeoverFloor(served_now, floor, err);
    *floor = takeover_floor;
    return true;
  }
  static std::string Describe(const TrafficSplit& s) {
    auto ports = [](const std::vector<Endpoint>& side) {
      std::string out;
      for (const Endpoint& e : side)
        out += (out.empty() ? "" : "+") + std::to_string(e.port);
      return out.empty() ? std::string("-") : out;
    };
    return std::to_string(s.generation) + ": " +
           std::to_string(s.canary_weight) + "% stable=" + ports(s.stable) +
           " canary=" + ports(s.canary) + (s.takeover ? " takeover" : "");
  }

  std::deque<SwitchOutcome> outcomes;  // of the next calls
  std::vector<TrafficSplit> splits;    // every call, in order
  uint64_t served = 0;
  std::string probe_error;  // non-empty: ServedGeneration fails with it
  bool pins = false;        // PinsRequests(), as the lua switch
  // Called by every Apply, before its outcome.
  std::function<void(const TrafficSplit&)> on_apply;
  // Non-zero: what TakeoverFloor answers (as the lua switch, the loaded
  // file's generation); 0: TrafficSwitch's default.
  uint64_t takeover_floor = 0;

 private:
  std::vector<std::string>* journal_;
};

// A running nginx, made of the fakes: it takes the config's test and reload
// commands (a handler on the runner) and answers the probe URL with the
// generation it serves. A reload loads the upstream file from the fake file
// system: served_text becomes its text and served_generation the number in
// its "# written by bgctl, generation N;" header, reload_delay_ms after the
// reload command (at once when 0).
class FakeNginx {
 public:
  struct Reload {
    int64_t at_ms = 0;
    uint64_t generation = 0;
    std::string text;
    bool took_effect = false;
  };

  FakeNginx(const NginxConfig& cfg, FakeClock* clock, FakeFileSystem* fs,
            FakeProcessRunner* runner, FakeHttpProbe* http,
            std::vector<std::string>* journal = nullptr)
      : cfg_(cfg), clock_(clock), fs_(fs), journal_(journal) {
    runner->AddHandler(
        [this](const std::vector<std::string>& argv, RunResult* out) {
          if (argv == cfg_.test_command) return Test(out);
          if (argv == cfg_.reload_command) return DoReload(out);
          return false;
        });
    http->Route(cfg_.probe_port, cfg_.probe_path,
                [this](HttpResponse* out, std::string* err) {
                  ++probes;
                  if (!probe_error.empty()) {
                    *err = probe_error;
                    return false;
                  }
                  out->status = 200;
                  out->body = std::to_string(served_generation);
                  return true;
                });
  }

  // Starts serving `text` as generation `generation`, as if reloaded before
  // the test began (also writes it to the upstream file).
  void Serve(const std::string& text, uint64_t generation) {
    fs_->files[cfg_.upstream_file] = text;
    served_text = text;
    served_generation = generation;
  }

  // The generation number in an upstream file's first line; 0 if none.
  static uint64_t GenerationOf(const std::string& text) {
    const std::string key = "generation ";
    size_t at = text.find(key);
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + key.size()));
  }

  uint64_t served_generation = 0;
  std::string served_text;
  int64_t reload_delay_ms = 0;
  int missed_reloads = 0;   // the next N reloads exit 0 but change nothing
  std::string probe_error;  // non-empty: the probe fails with it
  // Outcomes of the next test / reload commands (then exit 0).
  std::deque<RunResult> test_results;
  std::deque<RunResult> reload_results;
  // Called when the reload command runs, before it takes effect.
  std::function<void()> on_reload;
  // Called when a reload takes effect, with the generation now served.
  std::function<void(uint64_t generation)> on_serving;

  std::vector<Reload> reloads;      // every successful reload command
  std::vector<std::string> tested;  // the upstream text at each test
  int probes = 0;

 private:
  bool Test(RunResult* out) {
    tested.push_back(fs_->Contents(cfg_.upstream_file));
    if (!test_results.empty()) {
      *out = test_results.front();
      test_results.pop_front();
    }
    return true;
  }
  bool DoReload(RunResult* out) {
    if (on_reload) on_reload();
    if (!reload_results.empty()) {
      *out = reload_results.front();
      reload_results.pop_front();
      if (out->exit_code != 0 || out->timed_out) return true;
    }
    std::string text = fs_->Contents(cfg_.upstream_file);
    size_t index = reloads.size();
    reloads.push_back({clock_->NowMs(), GenerationOf(text), text, false});
    if (journal_)
      journal_->push_back("reload " + std::to_string(GenerationOf(text)));
    if (missed_reloads > 0) {
      --missed_reloads;
      return true;
    }
    auto take = [this, index] {
      served_text = reloads[index].text;
      served_generation = reloads[index].generation;
      reloads[index].took_effect = true;
      if (journal_)
        journal_->push_back("serving " + std::to_string(served_generation));
      if (on_serving) on_serving(served_generation);
    };
    if (reload_delay_ms > 0) {
      clock_->After(reload_delay_ms, take);
    } else {
      take();
    }
    return true;
  }

  NginxConfig cfg_;
  FakeClock* clock_;
  FakeFileSystem* fs_;
  std::vector<std::string>* journal_;
};

// systemd for the systemd runner, made of the fakes: handlers on the runner
// answer `systemctl ...` and `journalctl -u ...` as systemd 252 does, with
// units read from the fake file system at each daemon-reload (UNIT_DIR/U,
// or a template NAME@.service for NAME@X.service, then U.d/*.conf in name
// order: Environment= and Restart= are read). A started unit's main process
// is a FakeProcessRunner process (Adopt()) whose spec.env is the unit's
// environment, so FindByEnv finds it by its tag. Every call is recorded by
// the runner (RunLines()).
class FakeSystemd {
 public:
  struct Unit {
    bool loaded = false;              // known at the last daemon-reload
    std::string active = "inactive";  // ActiveState
    std::string sub = "dead";         // SubState
    std::string result = "success";   // Result
    int main_pid = 0;
    int restarts = 0;        // NRestarts
    std::string invocation;  // InvocationID: new at every start
    // ExecMainPID, ExecMainCode (1: exited), ExecMainStatus,
    // ExecMainStartTimestampMonotonic of the last main process.
    int exec_pid = 0, exec_code = 0, exec_status = 0;
    uint64_t exec_start = 0;
    bool enabled = false;
    bool restart_on_failure = false;  // Restart=on-failure is in effect
    std::map<std::string, std::string> env;
  };

  FakeSystemd(const SystemdConfig& cfg, FakeFileSystem* fs,
              FakeProcessRunner* runner)
      : cfg_(cfg), fs_(fs), runner_(runner) {
    runner->AddHandler(
        [this](const std::vector<std::string>& argv, RunResult* out) {
          if (argv.empty()) return false;
          if (argv[0] == "systemctl") return Systemctl(argv, out);
          if (argv[0] == "journalctl") return Journalctl(argv, out);
          return false;
        });
  }

  // The unit's main process crashes: systemd restarts it when
  // Restart=on-failure is in effect (NRestarts + 1), else the unit fails.
  void Crash(const std::string& name) {
    Unit& u = units[name];
    runner_->Exit(u.main_pid);
    u.main_pid = 0;
    if (u.restart_on_failure) {
      ++u.restarts;
      Spawn(name);
    } else {
      u.active = u.sub = "failed";
      u.result = "exit-code";
    }
  }

  std::map<std::string, Unit> units;
  // Lines `journalctl -u UNIT` prints, by unit.
  std::map<std::string, std::vector<std::string>> journal;
  // The next `systemctl VERB ...` answers this (then they succeed again).
  std::map<std::string, RunResult> fail_next;
  // The Result= a stop leaves ("timeout": systemd had to SIGKILL).
  std::string stop_result = "success";
  // Called with each new main process (e.g. make it exit at once).
  std::function<void(const std::string& unit, FakeProcess*)> on_start;
  // A main process that on_start ends exits with this status (systemd's
  // 203: the exec failed).
  int start_exit_status = 1;
  // Such an exit also fails `systemctl restart` (Type=exec: the process
  // exited before systemd saw the exec), as systemd does under load.
  bool exit_fails_start = false;

 private:
  static bool EndsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  // The file that defines `name` (its template for an instance), or "".
  std::string UnitFile(const std::string& name) const {
    std::string path = cfg_.unit_dir + "/" + name;
    if (fs_->files.count(path)) return path;
    size_t at = name.find('@');
    if (at == std::string::npos) return "";
    path = cfg_.unit_dir + "/" + name.substr(0, at + 1) + ".service";
    return fs_->files.count(path) ? path : "";
  }
  // Environment= and Restart= of one file.
  static void Read(const std::string& text, Unit* u) {
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(at, end - at);
      at = end + 1;
      if (line.rfind("Restart=", 0) == 0)
        u->restart_on_failure = line == "Restart=on-failure";
      if (line.rfind("Environment=\"", 0) != 0 || line.back() != '"') continue;
      std::string kv = line.substr(13, line.size() - 14);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) u->env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  void Reload() {
    for (auto& [name, u] : units) u.loaded = false;
    std::set<std::string> names;
    std::string prefix = cfg_.unit_dir + "/";
    for (const auto& [path, text] : fs_->files) {
      if (path.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rest = path.substr(prefix.size());
      size_t end = rest.find(".service");
      if (end == std::string::npos) continue;
      std::string name = rest.substr(0, end + 8);
      if (!EndsWith(name, "@.service")) names.insert(name);
    }
    for (const std::string& name : names) {
      std::string file = UnitFile(name);
      if (file.empty()) continue;
      Unit& u = units[name];
      u.loaded = true;
      u.env.clear();
      u.restart_on_failure = false;
      Read(fs_->files[file], &u);
      std::string dropins = cfg_.unit_dir + "/" + name + ".d/";
      for (const auto& [path, text] : fs_->files)  // std::map: name order
        if (path.compare(0, dropins.size(), dropins) == 0) Read(text, &u);
    }
  }
  // `journalctl ... -u UNIT` or `... _SYSTEMD_INVOCATION_ID=ID + ...`:
  // journal[UNIT].
  bool Journalctl(const std::vector<std::string>& argv, RunResult* out) {
    std::string unit;
    const std::string key = "_SYSTEMD_INVOCATION_ID=";
    for (size_t i = 0; i < argv.size(); ++i) {
      if (argv[i] == "-u" && i + 1 < argv.size()) unit = argv[i + 1];
      if (argv[i].rfind(key, 0) == 0)
        for (const auto& [name, u] : units)
          if (u.invocation == argv[i].substr(key.size())) unit = name;
    }
    out->output.clear();
    for (const std::string& line : journal[unit]) out->output += line + "\n";
    return true;
  }
  void Spawn(const std::string& name) {
    Unit& u = units[name];
    char invocation[33];
    std::snprintf(invocation, sizeof invocation, "%032x", ++invocations_);
    u.invocation = invocation;
    ProcessId id = runner_->Adopt();
    FakeProcess& p = runner_->Process(id.pid);
    p.spec.env = u.env;
    u.main_pid = u.exec_pid = id.pid;
    u.exec_code = u.exec_status = 0;
    u.exec_start = ++starts_;
    u.active = "active";
    u.sub = "running";
    if (on_start) on_start(name, &p);
    if (!p.alive) {
      u.main_pid = 0;
      u.active = u.sub = "failed";
      u.result = "exit-code";
      u.exec_code = 1;
      u.exec_status = start_exit_status;
    }
  }
  void StopUnit(Unit* u) {
    if (u->main_pid) runner_->Exit(u->main_pid);
    u->main_pid = 0;
    u->active = "inactive";
    u->sub = "dead";
    u->result = stop_result;
    if (stop_result != "success") u->active = u->sub = "failed";
  }
  bool Show(const std::vector<std::string>& argv, RunResult* out) {
    const std::string& name = argv[2];
    auto it = units.find(name);
    // A main process that exited behind systemd's back (a test's Exit()).
    if (it != units.end() && it->second.main_pid &&
        !runner_->Process(it->second.main_pid).alive)
      Crash(name);
    Unit u = it == units.end() ? Unit() : it->second;
    std::map<std::string, std::string> props = {
        {"LoadState", u.loaded ? "loaded" : "not-found"},
        {"ActiveState", u.active},
        {"SubState", u.sub},
        {"Result", u.result},
        {"MainPID", std::to_string(u.main_pid)},
        {"NRestarts", std::to_string(u.restarts)},
        {"ControlGroup", u.main_pid ? "/system.slice/" + name : ""},
        {"CPUUsageNSec", "[not set]"},
        {"InvocationID", u.invocation},
        {"ExecMainPID", std::to_string(u.exec_pid)},
        {"ExecMainCode", std::to_string(u.exec_code)},
        {"ExecMainStatus", std::to_string(u.exec_status)},
        {"ExecMainStartTimestampMonotonic", std::to_string(u.exec_start)}};
    std::string list = argv.size() > 4 ? argv[4] : "";
    out->output.clear();
    size_t at = 0;
    while (at <= list.size() && !list.empty()) {
      size_t comma = list.find(',', at);
      if (comma == std::string::npos) comma = list.size();
      std::string key = list.substr(at, comma - at);
      out->output += key + "=" + props[key] + "\n";
      at = comma + 1;
    }
    return true;
  }
  bool Systemctl(const std::vector<std::string>& argv, RunResult* out) {
    if (argv.size() < 2) return false;
    const std::string& verb = argv[1];
    auto failing = fail_next.find(verb);
    if (failing != fail_next.end()) {
      *out = failing->second;
      fail_next.erase(failing);
      return true;
    }
    const std::string name = argv.back();
    auto missing = [&](const std::string& what) {
      *out = RunResult{1, false, what};
      return true;
    };
    if (verb == "daemon-reload") {
      Reload();
    } else if (verb == "show") {
      return Show(argv, out);
    } else if (verb == "add-wants" || verb == "disable") {
      if (UnitFile(name).empty())
        return missing("Failed to " + verb + " unit: Unit file " + name +
                       " does not exist.");
      units[name].enabled = verb == "add-wants";
    } else if (verb == "is-enabled") {
      if (UnitFile(name).empty())
        return missing("Failed to get unit file state for " + name +
                       ": No such file or directory");
      *out = RunResult{units[name].enabled ? 0 : 1, false,
                       units[name].enabled ? "enabled\n" : "disabled\n"};
    } else if (verb == "restart") {
      if (!units[name].loaded)
        return missing("Failed to restart " + name + ": Unit " + name +
                       " not found.");
      if (units[name].main_pid) StopUnit(&units[name]);
      units[name].restarts = 0;
      Spawn(name);
      if (exit_fails_start && units[name].active == "failed")
        *out = RunResult{1, false,
                         "Job for " + name +
                             " failed because the control process exited "
                             "with error code.\n"};
    } else if (verb == "stop") {
      StopUnit(&units[name]);
    } else if (verb == "reset-failed") {
      Unit& u = units[name];
      if (u.active == "failed") u.active = "inactive", u.sub = "dead";
      u.result = "success";
    }
    return true;
  }

  SystemdConfig cfg_;
  FakeFileSystem* fs_;
  FakeProcessRunner* runner_;
  unsigned invocations_ = 0;
  uint64_t starts_ = 0;
};

}  // namespace bgctl::fake

#endif  // BGCTL_CONTROLLER_FAKE_ENV_H_
