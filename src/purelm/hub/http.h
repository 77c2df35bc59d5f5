// HTTP over libcurl: one handle per thread (connections are reused), HTTP/2 and TLS as libcurl
// negotiates them, proxies from the usual environment variables (http_proxy, https_proxy,
// no_proxy).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace purelm::hub {

struct Response {
  std::string url;                             // what was asked for (before any redirect)
  long status = 0;                             // 0: no response arrived (see error)
  std::string error;                           // why no complete response arrived, empty otherwise
  bool unreachable = false;                    // the host could not be resolved or connected to
  bool write_failed = false;                   // the sink refused the data
  std::map<std::string, std::string> headers;  // of the last response, names in lower case
  std::string body;                            // the body, when not streamed to a sink
  std::string header(const std::string& name) const;
};

class Http {
 public:
  Http();
  ~Http();
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  // A HEAD request that follows no redirect (the caller decides which to follow).
  Response head(const std::string& url, const std::vector<std::string>& headers);
  // A GET whose body is kept in memory; redirects are followed.
  Response get(const std::string& url, const std::vector<std::string>& headers);
  // A GET from byte `from` on (a Range request when from > 0), redirects followed. The body of a
  // 200 or 206 goes to `sink(status, data, n)`, which returns false to stop (write_failed); any
  // other status's body lands in Response::body.
  using Sink = std::function<bool(long status, const char* data, size_t n)>;
  Response stream(const std::string& url, const std::vector<std::string>& headers, int64_t from,
                  const Sink& sink);

 private:
  Response perform(const std::string& url, const std::vector<std::string>& headers,
                   const Sink* sink);
  void* curl_;
};

}  // namespace purelm::hub
