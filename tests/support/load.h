// A small HTTP load generator for end-to-end tests and benchmarks: N threads
// send requests to 127.0.0.1:port with httplib::Client and record every
// outcome, so a test can count lost requests exactly.
//
//   LoadOptions o;  o.port = port;  o.threads = 8;  o.duration_ms = 3000;
//   LoadGenerator load(o);
//   load.Start();
//   ...                       // deploy, signal, reload while it runs
//   LoadReport r = load.Stop();
//   CHECK(r.mid_request == 0);
#ifndef BGCTL_TESTS_SUPPORT_LOAD_H_
#define BGCTL_TESTS_SUPPORT_LOAD_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace bgctl::testing {

struct LoadOptions {
  int port = 0;                // requests go to 127.0.0.1:port
  int threads = 4;             // each sends one request at a time
  int64_t duration_ms = 2000;  // threads stop starting requests after this
  int64_t max_requests = 0;    // over all threads; 0 = no limit
  double rate = 0;  // target requests/s over all threads; 0 = flat out
  // Threads [0, round(threads * keep_alive_share)) keep one connection open
  // (httplib set_keep_alive(true)); the others open a fresh connection for
  // every request.
  double keep_alive_share = 0.5;
  // Before a keep-alive thread reuses its connection, it checks, as curl
  // and browsers do, whether the server closed it while idle (a readable
  // end of file, without blocking) and then opens a new one: a request is
  // then lost only when it crosses nginx's close on the wire, not when it is
  // sent on a connection already closed (nginx closes idle keep-alive
  // connections when a reload retires its workers). Off: every request goes
  // on the kept connection whatever its state, the harshest client.
  bool check_reuse = false;
  // Every thread sends POST (with post_body) for this share of its requests,
  // evenly spread, and GET for the rest.
  double post_share = 0.0;
  std::string path = "/";  // may carry a query, e.g. "/work?ms=50"
  std::string post_body = "bgctl load test body";
  int timeout_ms = 5000;  // connect, read and write timeout of each request
};

// One request, as the client saw it.
struct RequestRecord {
  int64_t start_ms = 0;   // since Start()
  double latency_ms = 0;  // until the response was complete or failed
  int status = 0;         // HTTP status; 0 when no complete response
  std::string error;      // "" or httplib's error name: "Connection",
                          // "ConnectionTimeout", "Read", "Write", ...
  bool refused = false;   // failed connecting: no byte of it was sent
  std::string version;    // the JSON body's "version" string, or ""
  bool post = false;
  bool keep_alive = false;  // sent by a keep-alive thread
  int thread = 0;
};

struct LoadReport {
  int64_t sent = 0;         // requests attempted (== records.size())
  int64_t ok = 0;           // complete responses with a 2xx status
  int64_t non2xx = 0;       // complete responses with any other status
  int64_t errors = 0;       // no complete response: refused + mid_request
  int64_t refused = 0;      // connect failed or timed out, nothing sent
  int64_t mid_request = 0;  // failed after the request (or part of it) was
                            // sent: a lost request
  std::map<std::string, int64_t> per_version;  // complete responses by
                                               // "version" ("" = none)
  std::map<int, int64_t> per_status;           // complete responses
  double p50_ms = 0;  // latency percentiles over complete responses
  double p99_ms = 0;  // (nearest rank); 0 when there are none
  double max_ms = 0;
  int64_t elapsed_ms = 0;  // Start() to the last thread's end
  // Up to 10 failures, e.g. "t=1234ms POST /work?ms=50 keep-alive: error
  // Read" or "t=5ms GET / fresh: status 500": first the earliest non-2xx
  // responses and lost requests, then (if fewer than 10) the earliest
  // refusals.
  std::vector<std::string> failures;
  std::vector<RequestRecord> records;  // every request, by start time
};

class LoadGenerator {
 public:
  explicit LoadGenerator(const LoadOptions& options);
  // Stops and joins the threads if still running.
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Starts the threads. Call once.
  void Start();
  // Requests finished so far (any outcome); safe to call while running.
  int64_t Finished() const { return finished_.load(); }
  // When Start() ran, in steady_clock milliseconds since its epoch (the
  // origin of RequestRecord::start_ms).
  int64_t started_at_ms() const { return start_ms_; }
  // Waits up to timeout_ms for every thread to reach its duration or the
  // request limit. True if they all did.
  bool Wait(int timeout_ms);
  // Asks the threads to stop after their current request (bounded by
  // timeout_ms), joins them and returns the report. Later calls return the
  // same report.
  LoadReport Stop();

 private:
  void RunThread(int index);

  LoadOptions options_;
  std::vector<std::thread> threads_;
  std::vector<std::vector<RequestRecord>> per_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> reserved_{0};
  std::atomic<int64_t> finished_{0};
  std::atomic<int> running_{0};
  int64_t start_ms_ = 0;
  std::atomic<int64_t> end_ms_{0};
  bool stopped_ = false;
  LoadReport report_;
};

}  // namespace bgctl::testing

#endif  // BGCTL_TESTS_SUPPORT_LOAD_H_
