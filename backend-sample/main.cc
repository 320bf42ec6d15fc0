// backend-sample: a small HTTP service for bgctl's demos and tests. It
// listens on one loopback address (127.0.0.1 unless --host names another of
// 127.0.0.0/8), drains on SIGTERM/SIGINT without losing an
// accepted request, and has fault switches (see README.md beside this file).
//
// Threads: SIGTERM and SIGINT are blocked before any thread starts, so only
// the signal thread (sigwait) ever sees them. The main thread runs the
// server; the signal thread starts the drain and enforces its deadline.
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "backend-sample/app.h"
#include "backend-sample/server.h"
#include "controller/exit_codes.h"

namespace bgctl {
namespace {

constexpr int kCrashExitCode = 70;

// One line to stderr with a single write(2), so lines never interleave.
void Log(const std::string& text) {
  std::string line = "backend-sample: " + text + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// Decides which of "drained" (main thread) and "drain timeout" (signal
// thread) ends the process; the loser never exits on its own.
struct Ending {
  std::mutex mu;
  std::condition_variable cv;
  bool served = false;     // Serve() returned
  bool timed_out = false;  // the signal thread gave up waiting
};

void SignalThread(const sigset_t& signals, const BackendOptions& options,
                  DrainingServer* server, Ending* ending) {
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  int64_t start = MonotonicMs();
  Log(std::string("got ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  Log("draining (" + std::to_string(server->in_flight()) + " in flight)");
  server->Drain();
  std::unique_lock<std::mutex> lock(ending->mu);
  bool served =
      ending->cv.wait_for(lock,
                          std::chrono::milliseconds(options.drain_timeout_ms -
                                                    (MonotonicMs() - start)),
                          [ending] { return ending->served; });
  if (served) return;
  ending->timed_out = true;
  Log("drain timeout after " + std::to_string(MonotonicMs() - start) +
      " ms with " + std::to_string(server->in_flight()) + " in flight, exit 1");
  _exit(kExitFailed);
}

void CrashTimer(int64_t after_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
  Log("crash-after elapsed (" + std::to_string(after_ms) + " ms), exit " +
      std::to_string(kCrashExitCode));
  _exit(kCrashExitCode);
}

int Run(const BackendOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  DrainingServer::Options server_options;
  // An idle connection must not keep a short drain from ending in time.
  server_options.drain_idle_grace_ms =
      static_cast<int>(std::min<int64_t>(1000, options.drain_timeout_ms / 4));
  server_options.linger_ms =
      static_cast<int>(std::min<int64_t>(500, options.drain_timeout_ms / 4));
  DrainingServer server(server_options);
  const char* slot = getenv("BGCTL_SLOT");
  RegisterHandlers(options, slot ? slot : "", &server);
  std::string err;
  const std::string address = options.host + ":" + std::to_string(options.port);
  if (!server.Bind(options.host, options.port, &err)) {
    Log(err);
    return kExitFailed;
  }
  Log("listening on " + address + " version " + options.version + " pid " +
      std::to_string(getpid()));

  Ending ending;
  std::thread(SignalThread, signals, options, &server, &ending).detach();
  if (options.crash_after_ms > 0) {
    std::thread(CrashTimer, options.crash_after_ms).detach();
  }
  int64_t start = MonotonicMs();
  bool drained = server.Serve();
  std::unique_lock<std::mutex> lock(ending.mu);
  if (ending.timed_out) {  // the signal thread is exiting the process
    ending.cv.wait(lock, [] { return false; });
  }
  ending.served = true;
  ending.cv.notify_all();
  if (!drained) {
    Log("listener on " + address + " failed after " +
        std::to_string(MonotonicMs() - start) + " ms, exit 1");
    _exit(kExitFailed);
  }
  Log("drained in " + std::to_string(MonotonicMs() - server.drain_start_ms()) +
      " ms");
  Log("exit 0");
  _exit(kExitOk);
}

}  // namespace
}  // namespace bgctl

int main(int argc, char** argv) {
  bgctl::BackendOptions options;
  std::string message;
  switch (bgctl::ParseBackendOptions(argc, argv, &options, &message)) {
    case bgctl::ParseOutcome::kHelp:
      fputs(message.c_str(), stdout);
      return bgctl::kExitOk;
    case bgctl::ParseOutcome::kUsageError:
      fprintf(stderr, "backend-sample: %s\nRun with --help for usage.\n",
              message.c_str());
      return bgctl::kExitUsage;
    case bgctl::ParseOutcome::kRun:
      break;
  }
  return bgctl::Run(options);
}
