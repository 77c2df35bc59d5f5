#include "purelm/hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "purelm/core/error.h"

namespace purelm::hub {

namespace {

struct Transfer {
  CURL* curl;
  const Http::Sink* sink;
  Response* res;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->res->headers.clear();  // a new response (after a redirect or a 100): keep only the last
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  const size_t b = value.find_first_not_of(" \t");
  const size_t e = value.find_last_not_of(" \t\r\n");
  t->res->headers[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->sink && (status == 200 || status == 206)) {
    if (!(*t->sink)(status, data, size * n)) {
      t->res->write_failed = true;
      return 0;
    }
  } else {
    t->res->body.append(data, size * n);
  }
  return size * n;
}

bool is_unreachable(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_COULDNT_CONNECT;
}

}  // namespace

std::string Response::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

Http::Http() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  check(curl_ != nullptr, "cannot start libcurl");
}

Http::~Http() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response Http::perform(const std::string& url, const std::vector<std::string>& headers,
                       const Sink* sink) {
  CURL* c = static_cast<CURL*>(curl_);
  Response res;
  res.url = url;
  Transfer t{c, sink, &res};
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "purelm/0.1");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  // A stalled transfer (under 1 byte/s for 30 s) fails and is retried, rather than hanging.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (code != CURLE_OK) {
    res.error = errbuf[0] ? errbuf : curl_easy_strerror(code);
    res.unreachable = is_unreachable(code);
  }
  return res;
}

Response Http::head(const std::string& url, const std::vector<std::string>& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  return perform(url, headers, nullptr);
}

Response Http::get(const std::string& url, const std::vector<std::string>& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  return perform(url, headers, nullptr);
}

Response Http::stream(const std::string& url, const std::vector<std::string>& headers, int64_t from,
                      const Sink& sink) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  if (from > 0) curl_easy_setopt(c, CURLOPT_RANGE, (std::to_string(from) + "-").c_str());
  return perform(url, headers, &sink);
}

}  // namespace purelm::hub
