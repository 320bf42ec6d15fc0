#include "tests/support/load.h"

#include <httplib.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

namespace bgctl::testing {

namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

double NowMsExact() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<httplib::Client> NewClient(const LoadOptions& o,
                                           bool keep_alive, int* fd = nullptr) {
  auto cli = std::make_unique<httplib::Client>("127.0.0.1", o.port);
  // The socket of each new connection, for IdleClosed (replaces httplib's
  // default options, which only matter to a listening socket).
  if (fd) cli->set_socket_options([fd](socket_t sock) { *fd = sock; });
  time_t sec = o.timeout_ms / 1000;
  time_t usec = (o.timeout_ms % 1000) * 1000;
  cli->set_connection_timeout(sec, usec);
  cli->set_read_timeout(sec, usec);
  cli->set_write_timeout(sec, usec);
  cli->set_keep_alive(keep_alive);
  cli->set_tcp_nodelay(true);  // POST: headers and body are two writes
  return cli;
}

// True when the server has closed the kept connection `fd` while it was
// idle: it polls readable and a peek finds the end of the stream (or an
// error) without blocking. A response byte would be a protocol error on an
// idle connection too, so any readable state means "do not reuse".
bool IdleClosed(httplib::Client* cli, int fd) {
  if (fd < 0 || !cli->is_socket_open()) return false;
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

std::string VersionOf(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) return "";
  auto it = json.find("version");
  return it != json.end() && it->is_string() ? it->get<std::string>() : "";
}

// Sends one request and fills the outcome fields of *record.
void SendOne(httplib::Client* cli, const LoadOptions& o,
             RequestRecord* record) {
  double start = NowMsExact();
  httplib::Result res =
      record->post ? cli->Post(o.path.c_str(), o.post_body, "text/plain")
                   : cli->Get(o.path.c_str());
  record->latency_ms = NowMsExact() - start;
  if (res) {
    record->status = res->status;
    record->version = VersionOf(res->body);
    return;
  }
  httplib::Error err = res.error();
  record->error = httplib::to_string(err);
  record->refused = err == httplib::Error::Connection ||
                    err == httplib::Error::ConnectionTimeout;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string Describe(const RequestRecord& r, const std::string& path) {
  std::string text = "t=" + std::to_string(r.start_ms) + "ms " +
                     (r.post ? "POST " : "GET ") + path +
                     (r.keep_alive ? " keep-alive: " : " fresh: ");
  return text + (r.status != 0 ? "status " + std::to_string(r.status)
                               : "error " + r.error);
}

}  // namespace

LoadGenerator::LoadGenerator(const LoadOptions& options)
    : options_(options), per_thread_(std::max(options.threads, 1)) {}

LoadGenerator::~LoadGenerator() { Stop(); }

void LoadGenerator::Start() {
  start_ms_ = NowMs();
  running_ = static_cast<int>(per_thread_.size());
  for (size_t i = 0; i < per_thread_.size(); i++) {
    threads_.emplace_back(&LoadGenerator::RunThread, this, static_cast<int>(i));
  }
}

void LoadGenerator::RunThread(int index) {
  const LoadOptions& o = options_;
  const int threads = static_cast<int>(per_thread_.size());
  const bool keep_alive =
      index < static_cast<int>(std::lround(threads * o.keep_alive_share));
  // Per-thread pacing: one request every `interval` ms, threads staggered.
  const double interval = o.rate > 0 ? 1000.0 * threads / o.rate : 0;
  double next = start_ms_ + interval * index / threads;
  std::unique_ptr<httplib::Client> kept;
  int kept_fd = -1;  // its socket, with check_reuse
  std::vector<RequestRecord>& records = per_thread_[index];
  for (int64_t n = 0; !stop_.load(); n++) {
    if (interval > 0) {
      double wait = next - NowMsExact();
      if (wait > 0) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(static_cast<int64_t>(wait * 1000)));
      }
      next += interval;
    }
    if (stop_.load() || NowMs() - start_ms_ >= o.duration_ms) break;
    if (o.max_requests > 0 && reserved_.fetch_add(1) >= o.max_requests) break;
    RequestRecord record;
    record.thread = index;
    record.keep_alive = keep_alive;
    record.post =
        std::floor((n + 1) * o.post_share) > std::floor(n * o.post_share);
    record.start_ms = NowMs() - start_ms_;
    if (keep_alive) {
      if (kept && o.check_reuse && IdleClosed(kept.get(), kept_fd))
        kept.reset();
      if (!kept) kept = NewClient(o, true, o.check_reuse ? &kept_fd : nullptr);
      SendOne(kept.get(), o, &record);
    } else {
      SendOne(NewClient(o, false).get(), o, &record);
    }
    records.push_back(std::move(record));
    finished_++;
  }
  int64_t now = NowMs();
  int64_t prev = end_ms_.load();
  while (now > prev && !end_ms_.compare_exchange_weak(prev, now)) {
  }
  running_--;
}

bool LoadGenerator::Wait(int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (running_.load() > 0) {
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

LoadReport LoadGenerator::Stop() {
  if (stopped_) return report_;
  stopped_ = true;
  stop_ = true;
  for (auto& t : threads_) t.join();
  LoadReport& r = report_;
  for (auto& records : per_thread_) {
    for (auto& record : records) r.records.push_back(std::move(record));
  }
  std::stable_sort(r.records.begin(), r.records.end(),
                   [](const RequestRecord& a, const RequestRecord& b) {
                     return a.start_ms < b.start_ms;
                   });
  std::vector<double> latencies;
  for (const RequestRecord& rec : r.records) {
    r.sent++;
    if (rec.status != 0) {
      (rec.status / 100 == 2 ? r.ok : r.non2xx)++;
      r.per_version[rec.version]++;
      r.per_status[rec.status]++;
      latencies.push_back(rec.latency_ms);
    } else {
      r.errors++;
      (rec.refused ? r.refused : r.mid_request)++;
    }
  }
  // Lost requests and bad statuses first, then refusals if there is room.
  for (bool refusals : {false, true}) {
    for (const RequestRecord& rec : r.records) {
      if (r.failures.size() >= 10) break;
      if (rec.status / 100 != 2 && rec.refused == refusals) {
        r.failures.push_back(Describe(rec, options_.path));
      }
    }
  }
  std::sort(latencies.begin(), latencies.end());
  r.p50_ms = Percentile(latencies, 0.50);
  r.p99_ms = Percentile(latencies, 0.99);
  r.max_ms = latencies.empty() ? 0 : latencies.back();
  r.elapsed_ms =
      threads_.empty() ? 0 : std::max<int64_t>(end_ms_ - start_ms_, 0);
  return r;
}

}  // namespace bgctl::testing
