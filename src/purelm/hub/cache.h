// Where downloaded files go, in the layouts huggingface_hub reads and writes.
//
// The cache: models--ORG--NAME/blobs/<etag> holds each file's bytes once;
// snapshots/<commit>/<path> are relative symlinks to the blobs; refs/<revision> holds a commit.
// A blob is written as <blob>.incomplete and renamed when complete and verified, under the lock
// .locks/models--ORG--NAME/<etag>.lock (flock, as huggingface_hub's filelock takes it), so
// concurrent downloads of one file, by purelm or by Python, wait for each other.
//
// A local folder (--local-dir): the files at their paths, and for each one
// .cache/huggingface/download/<path>.metadata (commit, etag, time) that tells a later download
// it is current; its part is .cache/huggingface/download/<path>.<etag>.incomplete.
#pragma once

#include <filesystem>
#include <string>

namespace purelm::hub {

namespace fs = std::filesystem;

class CacheRepo {
 public:
  explicit CacheRepo(const std::string& repo_id);
  const fs::path& dir() const { return dir_; }
  fs::path blob(const std::string& etag) const { return dir_ / "blobs" / etag; }
  fs::path pointer(const std::string& commit, const std::string& path) const {
    return dir_ / "snapshots" / commit / path;
  }
  fs::path lock(const std::string& etag) const { return locks_ / (etag + ".lock"); }
  // snapshots/<commit>/<path> -> ../../blobs/<etag>, replacing whatever was there.
  void link(const std::string& commit, const std::string& path, const std::string& etag) const;
  void write_ref(const std::string& revision, const std::string& commit) const;

 private:
  fs::path dir_, locks_;
};

struct LocalFile {
  LocalFile(const fs::path& local_dir, const std::string& path);
  fs::path file, metadata, lock;
  fs::path incomplete(const std::string& etag) const;
  // The metadata says this commit's file is here, unchanged since it was written.
  bool current(const std::string& commit) const;
  std::string saved_etag() const;
  void save(const std::string& commit, const std::string& etag) const;
};

// An exclusive flock on a lock file, held for the object's life.
class FileLock {
 public:
  explicit FileLock(const fs::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

// A path of the repo that is safe to join to a folder: relative, no "..", no empty parts.
bool is_safe_repo_path(const std::string& path);

}  // namespace purelm::hub
