#include "purelm/hub/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "purelm/core/error.h"
#include "purelm/io/hf_folder.h"

namespace purelm::hub {

CacheRepo::CacheRepo(const std::string& repo_id)
    : dir_(fs::absolute(repo_cache_dir(repo_id))),
      locks_(fs::absolute(hub_cache_dir()) / ".locks" / dir_.filename()) {}

void CacheRepo::link(const std::string& commit, const std::string& path,
                     const std::string& etag) const {
  const fs::path ptr = pointer(commit, path);
  fs::create_directories(ptr.parent_path());
  // A symlink made aside and renamed over the pointer: readers see the old one or the new one.
  const fs::path tmp = ptr.string() + ".purelm-" + std::to_string(::getpid()) + ".tmp";
  fs::remove(tmp);
  fs::create_symlink(blob(etag).lexically_relative(ptr.parent_path()), tmp);
  fs::rename(tmp, ptr);
}

void CacheRepo::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  const fs::path ref = dir_ / "refs" / revision;
  fs::create_directories(ref.parent_path());
  std::ifstream in(ref);
  std::string old;
  if (in && std::getline(in, old) && old == commit) return;
  const fs::path tmp = ref.string() + ".tmp";
  std::ofstream(tmp, std::ios::binary) << commit;  // no newline, as huggingface_hub writes it
  fs::rename(tmp, ref);
}

LocalFile::LocalFile(const fs::path& local_dir, const std::string& path)
    : file(local_dir / path),
      metadata(local_dir / ".cache" / "huggingface" / "download" / (path + ".metadata")),
      lock(local_dir / ".cache" / "huggingface" / "download" / (path + ".lock")) {
  fs::create_directories(file.parent_path());
  fs::create_directories(metadata.parent_path());
  const fs::path ignore = local_dir / ".cache" / "huggingface" / ".gitignore";
  if (!fs::exists(ignore)) std::ofstream(ignore) << "*";
}

fs::path LocalFile::incomplete(const std::string& etag) const {
  fs::path p = metadata;
  return p.replace_extension("." + etag + ".incomplete");
}

std::string LocalFile::saved_etag() const {
  std::ifstream in(metadata);
  std::string commit, etag;
  std::getline(in, commit);
  std::getline(in, etag);
  return etag;
}

bool LocalFile::current(const std::string& commit) const {
  std::ifstream in(metadata);
  std::string saved, etag, time;
  if (!std::getline(in, saved) || !std::getline(in, etag) || !std::getline(in, time)) return false;
  struct stat st;
  if (saved != commit || ::stat(file.c_str(), &st) != 0) return false;
  try {
    return double(st.st_mtime) - 1 <= std::stod(time);  // not edited since it was downloaded
  } catch (const std::exception&) {
    return false;
  }
}

void LocalFile::save(const std::string& commit, const std::string& etag) const {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::ofstream out(metadata);
  out << commit << "\n" << etag << "\n" << std::to_string(now) << "\n";
}

FileLock::FileLock(const fs::path& path) {
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  check(fd_ >= 0, "cannot open the lock file ", path.string(), ": ", std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    check(errno == EINTR, "cannot lock ", path.string(), ": ", std::strerror(errno));
  }
}

FileLock::~FileLock() {
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path[0] == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace purelm::hub
