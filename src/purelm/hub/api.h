// The Hub's HTTP API as huggingface_hub speaks it: a revision's model info (its commit and file
// list), a file's metadata from a HEAD of its resolve URL, and errors that say what to do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "purelm/hub/http.h"
#include "purelm/hub/retry.h"
#include "purelm/hub/settings.h"

namespace purelm::hub {

struct RepoFile {
  std::string path;
  int64_t size = -1;  // -1: the Hub did not say
};

struct RepoInfo {
  std::string commit;  // the 40-hex sha the revision points at
  std::vector<RepoFile> files;
};

struct FileMeta {
  std::string commit;    // X-Repo-Commit
  std::string etag;      // X-Linked-Etag (an LFS file's sha256) or ETag (git's blob sha1), unquoted
  int64_t size = -1;     // X-Linked-Size or Content-Length
  std::string location;  // where the bytes are: the redirect target (a CDN), or the URL itself
};

class Api {
 public:
  Api(Settings settings, RetryPolicy retry);
  const Settings& settings() const { return settings_; }
  const RetryPolicy& retry() const { return retry_; }

  // GET /api/models/{repo}/revision/{revision}?blobs=true
  RepoInfo model_info(Http& http, const std::string& repo, const std::string& revision) const;
  // HEAD {endpoint}/{repo}/resolve/{revision}/{path}, following only relative redirects (a
  // renamed repo), not the absolute one to the file's storage.
  FileMeta file_meta(Http& http, const std::string& repo, const std::string& revision,
                     const std::string& path) const;
  // The request headers for `url`: the token goes to the endpoint only, never to a CDN.
  std::vector<std::string> headers_for(const std::string& url) const;

  // Runs `request` until it gives a response that is not transient (429, 5xx, a dropped
  // connection), waiting as the retry policy says.
  template <class F>
  Response with_retries(F&& request) const;

  // Throws the error a failed response means, for `what` ("model info", a file path) of `repo`.
  [[noreturn]] void fail(const Response& res, const std::string& repo,
                         const std::string& what) const;

 private:
  Settings settings_;
  RetryPolicy retry_;
};

// Sleeps before retry `attempt`, as `res` (its Retry-After) and the policy say.
void wait_before_retry(const RetryPolicy& policy, int attempt, const Response& res);
bool is_transient(const Response& res);

template <class F>
Response Api::with_retries(F&& request) const {
  for (int attempt = 0;; ++attempt) {
    Response res = request();
    if (!is_transient(res) || attempt >= retry_.max_retries) return res;
    wait_before_retry(retry_, attempt, res);
  }
}

// "a/b c.json" -> "a/b%20c.json": percent-encodes all but unreserved characters (and '/' when
// keep_slash), as urllib's quote does for the Hub's URLs.
std::string url_quote(const std::string& s, bool keep_slash);

}  // namespace purelm::hub
