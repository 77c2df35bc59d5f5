#include "purelm/hub/download.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "purelm/core/error.h"
#include "purelm/hub/api.h"
#include "purelm/hub/cache.h"
#include "purelm/hub/patterns.h"
#include "purelm/hub/progress.h"
#include "purelm/hub/sha256.h"
#include "purelm/io/hf_folder.h"

namespace purelm::hub {

namespace {

// Thrown in a worker that stops because another one failed: not the error to report.
struct Stopped {};

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int64_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : int64_t(n);
}

void hash_prefix(const fs::path& p, int64_t n, Sha256& sha) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (n > 0 && in) {
    in.read(buf.data(), std::streamsize(std::min<int64_t>(n, int64_t(buf.size()))));
    sha.update(buf.data(), size_t(in.gcount()));
    n -= in.gcount();
  }
}

struct Job {
  const Api& api;
  const std::string& repo;
  Progress& progress;
  const std::atomic<bool>& stop;
  std::atomic<int64_t>& bytes;
};

// Downloads the file `meta` describes into `part`, resuming what `part` holds, until it is
// complete and verified: its sha256 when the etag is one (an LFS file), else its size.
void fetch(const Job& job, Http& http, const std::string& path, const FileMeta& meta,
           const fs::path& part) {
  const bool lfs = is_sha256(meta.etag);
  const RetryPolicy& retry = job.api.retry();
  Sha256 sha;
  for (int attempt = 0;; ++attempt) {
    int64_t have = size_or_zero(part);
    if (meta.size >= 0 && have > meta.size) {
      fs::remove(part);
      have = 0;
    }
    sha.reset();
    if (lfs) hash_prefix(part, have, sha);
    if (attempt == 0) job.progress.start(path, meta.size, have);
    std::FILE* f = std::fopen(part.c_str(), "ab");
    check(f != nullptr, "cannot write ", part.string(), ": ", std::strerror(errno));
    Response res;
    int write_errno = 0;
    if (meta.size < 0 || have < meta.size) {
      bool first = true;
      res = http.stream(meta.location, job.api.headers_for(meta.location), have,
                        [&](long status, const char* data, size_t n) {
                          if (job.stop) return false;
                          if (first && status == 200 && have > 0) {  // the server ignored Range
                            std::fflush(f);
                            if (::ftruncate(::fileno(f), 0) != 0) write_errno = errno;
                            job.progress.restart(path);
                            have = 0;
                            sha.reset();
                          }
                          first = false;
                          if (write_errno || std::fwrite(data, 1, n, f) != n) {
                            if (!write_errno) write_errno = errno;
                            return false;
                          }
                          if (lfs) sha.update(data, n);
                          job.progress.add(path, int64_t(n));
                          job.bytes += int64_t(n);
                          return true;
                        });
    }
    if (std::fclose(f) != 0 && !write_errno) write_errno = errno;
    if (job.stop) throw Stopped{};
    if (write_errno) {
      const fs::path dir = part.parent_path();
      if (write_errno == ENOSPC) {
        const std::string left =
            meta.size >= 0 ? " (" + format_bytes(meta.size - size_or_zero(part)) + " to go)" : "";
        fail("the disk is full: cannot write ", path, " of ", job.repo, " into ", dir.string(),
             left,
             ". Free some space, or set HF_HOME elsewhere, and run again: the download "
             "resumes where it stopped.");
      }
      fail("cannot write ", part.string(), ": ", std::strerror(write_errno));
    }
    const int64_t got = size_or_zero(part);
    const bool short_read = res.error.empty() && meta.size >= 0 && got < meta.size;
    if ((is_transient(res) || short_read) && attempt < retry.max_retries) {
      wait_before_retry(retry, attempt, res);
      continue;
    }
    if (!res.error.empty() || (res.status != 0 && res.status != 200 && res.status != 206)) {
      job.api.fail(res, job.repo, "file '" + path + "'");
    }
    if (meta.size >= 0 && got != meta.size) {
      fs::remove(part);
      fail("the download of ", path, " of ", job.repo, " has ", got, " bytes, not ", meta.size,
           " as the Hub says; it is deleted: run again");
    }
    if (lfs) {
      const std::string digest = sha.hex();
      if (digest != meta.etag) {
        fs::remove(part);
        fail("the sha256 of ", path, " of ", job.repo, " is ", digest, ", not ", meta.etag,
             " as the Hub says: the download was corrupted and is deleted. Run again.");
      }
    }
    return;
  }
}

// One file into the cache: a HEAD for its etag, the blob unless the cache has it, the pointer.
void to_cache(const Job& job, Http& http, const CacheRepo& cache, const std::string& commit,
              const std::string& path) {
  const FileMeta meta = job.api.file_meta(http, job.repo, commit, path);
  const fs::path blob = cache.blob(meta.etag);
  if (!fs::exists(blob)) {
    FileLock lock(cache.lock(meta.etag));
    if (!fs::exists(blob)) {  // another process may have written it while we waited
      fs::create_directories(blob.parent_path());
      const fs::path part = blob.string() + ".incomplete";
      fetch(job, http, path, meta, part);
      fs::rename(part, blob);
    }
  }
  cache.link(commit, path, meta.etag);
  job.progress.finish(path);
}

void to_local_dir(const Job& job, Http& http, const fs::path& dir, const std::string& commit,
                  const std::string& path) {
  const LocalFile local(dir, path);
  const FileMeta meta = job.api.file_meta(http, job.repo, commit, path);
  FileLock lock(local.lock);
  if (!(fs::exists(local.file) && local.saved_etag() == meta.etag)) {
    const fs::path part = local.incomplete(meta.etag);
    fetch(job, http, path, meta, part);
    fs::rename(part, local.file);
  }
  local.save(commit, meta.etag);
  job.progress.finish(path);
}

}  // namespace

DownloadResult download_repo(const std::string& repo_id, const DownloadOptions& o) {
  check(is_repo_id(repo_id), "'", repo_id, "' is not a HuggingFace repo id (ORG/NAME)");
  const Settings settings = settings_from_env();
  check(!settings.offline, "cannot download ", repo_id,
        ": HF_HUB_OFFLINE is set (offline mode). Unset it to download.");
  const Api api(settings, o.retry);
  Http http;
  const RepoInfo info = api.model_info(http, repo_id, o.revision);
  const FileFilter filter = make_filter(o.include, o.exclude);
  const CacheRepo cache(repo_id);
  const bool local = !o.local_dir.empty();

  DownloadResult result;
  result.commit = info.commit;
  result.dir = local ? o.local_dir : (cache.dir() / "snapshots" / info.commit).string();
  std::vector<RepoFile> todo;
  int64_t total = 0;
  std::string listing;
  for (const RepoFile& f : info.files) {
    if (listing.size() < 300) listing += (listing.empty() ? "" : ", ") + f.path;
    if (!filter.matches(f.path)) continue;
    check(is_safe_repo_path(f.path), "the Hub lists a file of ", repo_id, " at an unsafe path '",
          f.path, "'; not downloading it");
    ++result.files;
    const bool have = local ? LocalFile(o.local_dir, f.path).current(info.commit)
                            : fs::exists(cache.pointer(info.commit, f.path));
    if (have) continue;
    todo.push_back(f);
    total = f.size < 0 || total < 0 ? -1 : total + f.size;
  }
  check(result.files > 0, "no file of ", repo_id, " at '", o.revision,
        "' matches the --include/--exclude patterns; it has: ", listing);

  const fs::path target = local ? fs::path(o.local_dir) : cache.dir();
  fs::create_directories(target);
  if (total > 0) {
    const auto space = fs::space(target);
    check(int64_t(space.available) >= total, "not enough disk space for ", repo_id, ": it needs ",
          format_bytes(total), " and ", target.string(), " has ",
          format_bytes(int64_t(space.available)),
          " free. Free some space, or set HF_HOME (or --local-dir) elsewhere.");
  }

  Progress progress(o.progress, int(todo.size()), total);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> bytes{0};
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  const Job job{api, repo_id, progress, stop, bytes};
  auto worker = [&] {
    Http own;
    for (size_t i; !stop && (i = next++) < todo.size();) {
      try {
        if (local)
          to_local_dir(job, own, o.local_dir, info.commit, todo[i].path);
        else
          to_cache(job, own, cache, info.commit, todo[i].path);
      } catch (const Stopped&) {
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  const int n = std::max(1, std::min<int>(o.max_workers, int(todo.size())));
  std::vector<std::thread> threads;
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  if (!todo.empty()) worker();
  for (auto& t : threads) t.join();
  progress.close();
  if (error) std::rethrow_exception(error);
  if (!local) cache.write_ref(o.revision, info.commit);
  result.downloaded = int(todo.size());
  result.bytes = bytes;
  return result;
}

void ensure_model(const std::string& spec) {
  std::error_code ec;
  const std::optional<RepoSpec> rs = parse_repo_spec(spec);
  if (!rs || fs::exists(spec, ec) || offline_from_env()) return;
  try {
    const fs::path dir = resolve_model_dir(spec);
    const bool weights = fs::exists(dir / "model.safetensors", ec) ||
                         fs::exists(dir / "model.safetensors.index.json", ec);
    if (fs::exists(dir / "config.json", ec) && weights) return;
  } catch (const Error&) {
    // not in the cache: download it
  }
  const Settings settings = settings_from_env();
  std::fprintf(stderr, "%s is not in the HuggingFace cache: downloading it from %s\n", spec.c_str(),
               settings.endpoint.c_str());
  DownloadOptions o;
  if (!rs->revision.empty()) o.revision = rs->revision;
  try {
    download_repo(rs->repo, o);
  } catch (const Error& e) {
    fail("model '", spec, "' is not a folder, and as a repo id: ", e.what());
  }
}

}  // namespace purelm::hub
