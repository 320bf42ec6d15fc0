// The one HTTP call bgctl makes that is not a probe: the lua switch's push
// (lua_switch.h). Beside HttpProbe (env.h), with the same contract; the real
// one is in http_probe.cc, the fake is FakeHttpProbe (fake_env.h).
#ifndef BGCTL_CONTROLLER_HTTP_POST_H_
#define BGCTL_CONTROLLER_HTTP_POST_H_

#include <cstdint>
#include <map>
#include <string>

#include "controller/env.h"

namespace bgctl {

// Why a POST got no answer.
enum class PostFailure {
  kNotSent,   // no connection was made (refused, or the connect timed out):
              // the server never saw the request
  kNoAnswer,  // sent, but no complete answer: the server may have acted
};

class HttpPoster {
 public:
  virtual ~HttpPoster() = default;
  // POST `body` (text/plain) with `headers` to http://host:port/path over
  // a new connection, giving up after timeout_ms, as HttpProbe::Get. False
  // with *failure and *err when no complete answer came; any HTTP status
  // is success.
  virtual bool Post(const std::string& host, int port, const std::string& path,
                    const std::string& body,
                    const std::map<std::string, std::string>& headers,
                    int64_t timeout_ms, HttpResponse* out, PostFailure* failure,
                    std::string* err) = 0;
};

// The real one (http_probe.cc), owned by the process (never deleted).
HttpPoster* RealHttpPoster();

}  // namespace bgctl

#endif  // BGCTL_CONTROLLER_HTTP_POST_H_
