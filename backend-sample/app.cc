#include "backend-sample/app.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "backend-sample/server.h"
#include "controller/duration.h"

namespace bgctl {

namespace {

constexpr int64_t kMaxWorkMs = 600000;

bool ParsePort(const std::string& text, int* port, std::string* message) {
  bool digits = !text.empty() && text.size() <= 5 &&
                text.find_first_not_of("0123456789") == std::string::npos;
  int value = digits ? std::stoi(text) : 0;
  if (value < 1 || value > 65535) {
    *message =
        "--port: expected a port number from 1 to 65535, got \"" + text + "\"";
    return false;
  }
  *port = value;
  return true;
}

// An IPv4 address in 127.0.0.0/8 written the usual way (what inet_pton
// accepts): the sample never listens beyond loopback.
bool ParseHost(const std::string& text, std::string* host,
               std::string* message) {
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1 ||
      (ntohl(addr.s_addr) >> 24) != 127) {
    *message =
        "--host: expected an IPv4 address in 127.0.0.0/8, got \"" + text + "\"";
    return false;
  }
  *host = text;
  return true;
}

bool ParseVersion(const std::string& text, std::string* version,
                  std::string* message) {
  const char* allowed =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  if (text.empty() || text.size() > 64 ||
      text.find_first_not_of(allowed) != std::string::npos) {
    *message = "--version: expected 1-64 characters of [A-Za-z0-9._-], got \"" +
               text + "\"";
    return false;
  }
  *version = text;
  return true;
}

bool ParseRate(const std::string& text, double* rate, std::string* message) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0 ||
      value > 1) {
    *message =
        "--error-rate: expected a number from 0 to 1, got \"" + text + "\"";
    return false;
  }
  *rate = value;
  return true;
}

bool ParseFlagDuration(const std::string& flag, const std::string& text,
                       int64_t* ms, std::string* message) {
  std::string err;
  if (!ParseDuration(text, ms, &err)) {
    *message = flag + ": " + err;
    return false;
  }
  return true;
}

// True with probability p; one generator per thread.
bool Chance(double p) {
  thread_local std::mt19937_64 gen(
      std::random_device{}() ^
      std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen) < p;
}

void SleepMs(int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

ParseOutcome ParseBackendOptions(int argc, char** argv, BackendOptions* options,
                                 std::string* message) {
  CLI::App app{
      "A small HTTP service that drains gracefully, with fault switches.",
      "backend-sample"};
  std::string host = "127.0.0.1", port, version, drain = "30s", rate = "0.0",
              latency = "0ms", crash = "0s";
  app.add_option("--port", port, "port on the --host address (1-65535)")
      ->type_name("PORT")
      ->required();
  app.add_option("--host", host,
                 "address to listen on, in 127.0.0.0/8 (default 127.0.0.1)")
      ->type_name("ADDR");
  app.add_option("--version", version, "version reported by GET /")
      ->type_name("V")
      ->required();
  app.add_option("--drain-timeout", drain,
                 "after SIGTERM/SIGINT, exit 1 if requests are still in "
                 "flight after this long (default 30s)")
      ->type_name("DURATION");
  app.add_option("--error-rate", rate,
                 "answer 500 on / and /work with this probability (0..1)")
      ->type_name("RATE");
  app.add_option("--extra-latency", latency,
                 "add this delay to every non-health response (e.g. 200ms)")
      ->type_name("DURATION");
  app.add_flag("--unhealthy", options->unhealthy, "GET /healthz answers 503");
  app.add_option("--crash-after", crash,
                 "exit with code 70 this long after start (0s = never)")
      ->type_name("DURATION");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *message = app.help();
    return ParseOutcome::kHelp;
  } catch (const CLI::ParseError& e) {
    *message = e.what();
    return ParseOutcome::kUsageError;
  }
  bool ok = ParseHost(host, &options->host, message) &&
            ParsePort(port, &options->port, message) &&
            ParseVersion(version, &options->version, message) &&
            ParseFlagDuration("--drain-timeout", drain,
                              &options->drain_timeout_ms, message) &&
            ParseRate(rate, &options->error_rate, message) &&
            ParseFlagDuration("--extra-latency", latency,
                              &options->extra_latency_ms, message) &&
            ParseFlagDuration("--crash-after", crash, &options->crash_after_ms,
                              message);
  return ok ? ParseOutcome::kRun : ParseOutcome::kUsageError;
}

void RegisterHandlers(const BackendOptions& options, const std::string& slot,
                      DrainingServer* server) {
  nlohmann::ordered_json identity = {{"version", options.version},
                                     {"slot", nullptr},
                                     {"pid", static_cast<int>(getpid())}};
  if (!slot.empty()) identity["slot"] = slot;

  // The application routes: extra latency, then maybe an injected 500.
  auto serve = [options, identity](const httplib::Request& req,
                                   httplib::Response& res, bool work) {
    nlohmann::ordered_json body = identity;
    int64_t work_ms = 0;
    if (work) {
      std::string ms = req.get_param_value("ms");
      bool digits = !ms.empty() && ms.size() <= 7 &&
                    ms.find_first_not_of("0123456789") == std::string::npos;
      work_ms = digits ? std::stoll(ms) : -1;
      if (work_ms < 0 || work_ms > kMaxWorkMs) {
        res.status = 400;
        body["error"] = "ms: expected an integer from 0 to 600000";
        res.set_content(body.dump() + "\n", "application/json");
        return;
      }
    }
    SleepMs(options.extra_latency_ms + work_ms);
    if (work) body["slept_ms"] = work_ms;
    if (req.method == "POST") body["received"] = req.body.size();
    if (options.error_rate > 0 && Chance(options.error_rate)) {
      res.status = 500;
      body["error"] = "injected fault (--error-rate)";
    }
    res.set_content(body.dump() + "\n", "application/json");
  };
  server->Get("/", [serve](const httplib::Request& req,
                           httplib::Response& res) { serve(req, res, false); });
  server->Post("/",
               [serve](const httplib::Request& req, httplib::Response& res) {
                 serve(req, res, false);
               });
  server->Get("/work",
              [serve](const httplib::Request& req, httplib::Response& res) {
                serve(req, res, true);
              });
  server->Post("/work",
               [serve](const httplib::Request& req, httplib::Response& res) {
                 serve(req, res, true);
               });
  server->Get("/healthz", [options, identity, server](const httplib::Request&,
                                                      httplib::Response& res) {
    nlohmann::ordered_json body = identity;
    body["status"] = options.unhealthy    ? "unhealthy"
                     : server->draining() ? "draining"
                                          : "ok";
    res.status = body["status"] == "ok" ? 200 : 503;
    res.set_content(body.dump() + "\n", "application/json");
  });
}

}  // namespace bgctl
