#include "purelm/io/hf_folder.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "purelm/core/error.h"

namespace purelm {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::string hf_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? trim(v) : "";
}

fs::path hf_home() {
  if (std::string v = hf_env("HF_HOME"); !v.empty()) return v;
  if (std::string v = hf_env("XDG_CACHE_HOME"); !v.empty()) return fs::path(v) / "huggingface";
  if (std::string v = hf_env("HOME"); !v.empty()) return fs::path(v) / ".cache" / "huggingface";
  return {};
}

// HUGGINGFACE_HUB_CACHE is huggingface_hub's legacy spelling of HF_HUB_CACHE.
fs::path hub_cache_dir() {
  for (const char* var : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}) {
    if (std::string v = hf_env(var); !v.empty()) return v;
  }
  const fs::path home = hf_home();
  check(!home.empty(),
        "cannot find the HuggingFace cache: none of HF_HUB_CACHE, HF_HOME, HOME is set");
  return home / "hub";
}

fs::path repo_cache_dir(const std::string& repo_id) {
  const size_t slash = repo_id.find('/');
  return hub_cache_dir() /
         ("models--" + repo_id.substr(0, slash) + "--" + repo_id.substr(slash + 1));
}

bool is_repo_id(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos || s.find('/', slash + 1) != std::string::npos) return false;
  return slash > 0 && slash + 1 < s.size() && s[0] != '.';
}

std::optional<RepoSpec> parse_repo_spec(const std::string& spec) {
  const size_t at = spec.find('@');
  RepoSpec r{spec.substr(0, at), at == std::string::npos ? "" : spec.substr(at + 1)};
  if (!is_repo_id(r.repo) || (at != std::string::npos && r.revision.empty())) return std::nullopt;
  return r;
}

bool is_commit(const std::string& revision) {
  return revision.size() == 40 &&
         revision.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string resolve_model_dir(const std::string& spec) {
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return spec;
  const std::optional<RepoSpec> rs = parse_repo_spec(spec);
  if (!rs) {
    if (fs::exists(spec, ec)) fail("model '", spec, "' is a file, not a checkpoint folder");
    fail("model '", spec,
         "' not found: no such folder, and not a HuggingFace repo id (ORG/NAME or ORG/NAME@REV)");
  }
  const fs::path repo = repo_cache_dir(rs->repo);
  const fs::path snapshots = repo / "snapshots";

  std::string tried;  // what the error reports
  const std::string revision = rs->revision.empty() ? "main" : rs->revision;
  std::ifstream ref(repo / "refs" / revision);
  std::string rev;
  if (is_commit(revision)) {
    const fs::path snap = snapshots / revision;
    if (fs::is_directory(snap, ec)) return snap.string();
    tried = snap.string();
  } else if (ref && std::getline(ref, rev) && !trim(rev).empty()) {
    const fs::path snap = snapshots / trim(rev);
    if (fs::is_directory(snap, ec)) return snap.string();
    tried = snap.string();
  } else if (!rs->revision.empty()) {
    tried = (repo / "refs" / revision).string();
  } else {  // Without refs/main (e.g. a cache filled by copying), a single snapshot is unambiguous.
    std::vector<fs::path> found;
    for (fs::directory_iterator it(snapshots, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) found.push_back(it->path());
    }
    if (found.size() == 1) return found[0].string();
    tried = (snapshots / "...").string();
    if (found.size() > 1) {
      tried += ": " + std::to_string(found.size()) + " snapshots and no refs/main to choose one";
    }
  }
  fail("model '", spec, "' not found: not a folder, and not in the HuggingFace cache (looked for ",
       tried, "). Download it with `purelm download ", spec, "` or pass a folder.");
}

}  // namespace purelm
