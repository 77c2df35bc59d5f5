#include "purelm/hub/api.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "purelm/core/error.h"

namespace purelm::hub {

namespace {

std::string unquote_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

int64_t parse_size(const std::string& s) {
  try {
    return s.empty() ? -1 : std::stoll(s);
  } catch (const std::exception&) {
    return -1;
  }
}

// "scheme://host:port" of a URL.
std::string origin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  return url.substr(0, url.find('/', scheme + 3));
}

}  // namespace

std::string url_quote(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool is_transient(const Response& res) {
  if (res.write_failed) return false;
  if (res.status == 0 || !res.error.empty()) return !res.unreachable;
  return is_transient_status(res.status);
}

void wait_before_retry(const RetryPolicy& policy, int attempt, const Response& res) {
  const double s = retry_delay(policy, attempt, res.header("retry-after"));
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

Api::Api(Settings settings, RetryPolicy retry) : settings_(std::move(settings)), retry_(retry) {}

std::vector<std::string> Api::headers_for(const std::string& url) const {
  std::vector<std::string> h;
  if (!settings_.token.empty() && origin(url) == origin(settings_.endpoint)) {
    h.push_back("Authorization: Bearer " + settings_.token);
  }
  return h;
}

RepoInfo Api::model_info(Http& http, const std::string& repo, const std::string& revision) const {
  const std::string url = settings_.endpoint + "/api/models/" + repo + "/revision/" +
                          url_quote(revision, false) + "?blobs=true";
  Response res = with_retries([&] { return http.get(url, headers_for(url)); });
  if (res.status != 200 || !res.error.empty()) fail(res, repo, "revision '" + revision + "'");
  RepoInfo info;
  try {
    const nlohmann::json j = nlohmann::json::parse(res.body);
    info.commit = j.at("sha").get<std::string>();
    for (const auto& s : j.at("siblings")) {
      RepoFile f{s.at("rfilename").get<std::string>(), -1};
      if (s.contains("lfs") && s["lfs"].contains("size")) {
        f.size = s["lfs"]["size"].get<int64_t>();
      } else if (s.contains("size")) {
        f.size = s["size"].get<int64_t>();
      }
      info.files.push_back(f);
    }
  } catch (const nlohmann::json::exception& e) {
    purelm::fail("the Hub's model info of ", repo, " is not what purelm expects (", e.what(),
                 "): is HF_ENDPOINT (", settings_.endpoint, ") a HuggingFace Hub?");
  }
  return info;
}

FileMeta Api::file_meta(Http& http, const std::string& repo, const std::string& revision,
                        const std::string& path) const {
  std::string url = settings_.endpoint + "/" + repo + "/resolve/" + url_quote(revision, false) +
                    "/" + url_quote(path, true);
  std::vector<std::string> headers = headers_for(url);
  headers.push_back("Accept-Encoding: identity");  // the true size, not a compressed one
  Response res;
  for (int hops = 0;; ++hops) {
    res = with_retries([&] { return http.head(url, headers); });
    const std::string location = res.header("location");
    const bool relative = !location.empty() && location[0] == '/';
    if (res.status < 300 || res.status >= 400 || !relative || hops >= 5) break;
    url = origin(url) + location;
  }
  if (!res.error.empty() || res.status >= 400) fail(res, repo, "file '" + path + "'");
  FileMeta m;
  m.commit = res.header("x-repo-commit");
  m.etag = unquote_etag(res.header("x-linked-etag"));
  if (m.etag.empty()) m.etag = unquote_etag(res.header("etag"));
  m.size = parse_size(res.header("x-linked-size"));
  if (m.size < 0) m.size = parse_size(res.header("content-length"));
  m.location = res.status >= 300 && !res.header("location").empty() ? res.header("location") : url;
  check(!m.etag.empty(), "the Hub gave no ETag for '", path, "' of ", repo,
        ": purelm cannot tell which version of the file this is (a proxy may strip headers)");
  return m;
}

void Api::fail(const Response& res, const std::string& repo, const std::string& what) const {
  const std::string& ep = settings_.endpoint;
  if (res.unreachable) {
    purelm::fail("cannot reach ", origin(res.url), " for ", what, " of ", repo, " (", res.error,
                 "). Without a network, set HF_HUB_OFFLINE=1 to use only the models already in "
                 "the cache.");
  }
  if (res.status == 0 || !res.error.empty()) {
    purelm::fail("the download of ", what, " of ", repo, " failed: ", res.error, " (after ",
                 retry_.max_retries, " retries). Run again: it resumes where it stopped.");
  }
  const std::string code = res.header("x-error-code");
  const std::string msg = res.header("x-error-message");
  const std::string said = msg.empty() ? "" : " (the Hub says: " + msg + ")";
  const std::string token_hint =
      settings_.token.empty()
          ? "set HF_TOKEN (or run `huggingface-cli login`) to a token of an account that may "
            "read it"
          : "the token in HF_TOKEN or $HF_HOME/token is refused: check that its account may "
            "read it";
  if (code == "GatedRepo" || ((res.status == 401 || res.status == 403) && code.empty())) {
    purelm::fail(repo, " is gated or private (HTTP ", res.status, ")", said,
                 ": accept its licence at ", ep, "/", repo, " and ", token_hint, ".");
  }
  if (code == "RepoNotFound") {
    purelm::fail("no model repo '", repo, "' on ", ep, said, ": check the name; if it is private, ",
                 token_hint, ".");
  }
  if (code == "RevisionNotFound") purelm::fail("no ", what, " in ", repo, " on ", ep, said);
  if (code == "EntryNotFound" || res.status == 404) {
    purelm::fail("no ", what, " in ", repo, " on ", ep, " (HTTP ", res.status, ")", said);
  }
  purelm::fail(
      "the Hub (", ep, ") answered HTTP ", res.status, " for ", what, " of ", repo, said,
      is_transient_status(res.status) ? "; it still did after retries: try again later" : "");
}

}  // namespace purelm::hub
