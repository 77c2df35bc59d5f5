#include "purelm/train/hf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace purelm {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kShardBytes = 5'000'000'000;  // transformers' default max_shard_size

const char* const kTokenizerFiles[] = {"tokenizer.json",
                                       "tokenizer_config.json",
                                       "chat_template.jinja",
                                       "special_tokens_map.json",
                                       "tokenizer.model",
                                       "vocab.json",
                                       "merges.txt",
                                       "added_tokens.json",
                                       "generation_config.json"};

[[noreturn]] void sys_fail(const char* what, const std::string& path) {
  int err = errno;
  fail(what, " '", path, "': ", std::strerror(err));
}

// An open file that is flushed to disk and closed by finish(), or closed and removed on error.
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) sys_fail("cannot create", path_);
  }
  ~OutFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(path_.c_str());
    }
  }
  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) sys_fail("cannot write", path_);
      p += w;
      n -= size_t(w);
    }
  }
  void finish() {
    if (::fsync(fd_) != 0) sys_fail("cannot sync", path_);
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) sys_fail("cannot close", path_);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// How one weight is stored: its dtype, and the shape of its file entry (U8 rows of bytes for the
// block formats).
struct Stored {
  DType dtype;
  Shape file_shape;
  DType file_dtype() const { return is_quantized(dtype) ? DType::U8 : dtype; }
  int64_t bytes() const { return numel(file_shape) * int64_t(dtype_size(file_dtype())); }
};
Stored stored(const WeightInfo& w, DType dtype, const std::map<std::string, DType>& quantized) {
  auto q = quantized.find(w.name);
  if (q == quantized.end()) return {dtype, w.shape};
  const int64_t K = w.shape.back();
  return {q->second, {numel(w.shape) / K, int64_t(row_bytes(q->second, K))}};
}

// One safetensors file holding table[first, last), tensors back to back in table order.
void write_shard(const std::string& path, const std::vector<WeightInfo>& table, size_t first,
                 size_t last, const std::vector<Stored>& how,
                 const std::function<Tensor(const WeightInfo&)>& make,
                 const std::function<void(int64_t)>& wrote) {
  std::string header = R"({"__metadata__":{"format":"pt"})";
  int64_t offset = 0;
  for (size_t i = first; i < last; ++i) {
    int64_t n = how[i].bytes();
    nlohmann::json entry = {{"dtype", std::string(dtype_name(how[i].file_dtype()))},
                            {"shape", how[i].file_shape},
                            {"data_offsets", {offset, offset + n}}};
    header += "," + nlohmann::json(table[i].name).dump() + ":" + entry.dump();
    offset += n;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  OutFile f(path);
  f.write(len, 8);
  f.write(header.data(), header.size());
  for (size_t i = first; i < last; ++i) {
    Tensor t = make(table[i]);
    check(t.shape() == table[i].shape, "weight '", table[i].name, "' has shape ", t.shape(),
          ", expected ", table[i].shape);
    if (t.dtype() != how[i].dtype) t = t.to(how[i].dtype);
    check(int64_t(t.nbytes()) == how[i].bytes(), "weight '", table[i].name, "': ", t.nbytes(),
          " bytes, expected ", how[i].bytes());
    f.write(t.raw(), t.nbytes());
    wrote(int64_t(t.nbytes()));
  }
  f.finish();
}

void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) sys_fail("cannot open", dir);
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

FileSet read_tokenizer_files(const std::string& dir) {
  FileSet files;
  for (const char* name : kTokenizerFiles) {
    fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) continue;
    std::ifstream in(p, std::ios::binary);
    check(in.good(), "cannot read ", p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    files[name] = ss.str();
  }
  return files;
}

void write_file(const std::string& path, std::string_view contents) {
  OutFile f(path);
  f.write(contents.data(), contents.size());
  f.finish();
}

void write_weights(const std::string& dir, const std::vector<WeightInfo>& table, DType dtype,
                   const std::function<Tensor(const WeightInfo&)>& make,
                   const std::function<void(int64_t, int64_t)>& progress,
                   const std::map<std::string, DType>& quantized) {
  std::vector<Stored> how;
  for (const WeightInfo& w : table) how.push_back(stored(w, dtype, quantized));
  // Shards are consecutive runs of the table of at most kShardBytes (or one larger tensor).
  std::vector<size_t> starts{0};
  int64_t total = 0, run = 0;
  for (size_t i = 0; i < table.size(); ++i) {
    int64_t n = how[i].bytes();
    if (run > 0 && run + n > kShardBytes) starts.push_back(i), run = 0;
    run += n;
    total += n;
  }
  starts.push_back(table.size());
  size_t shards = starts.size() - 1;
  int64_t done = 0;
  auto wrote = [&](int64_t n) {
    done += n;
    if (progress) progress(done, total);
  };
  if (shards == 1)
    return write_shard(dir + "/model.safetensors", table, 0, table.size(), how, make, wrote);
  nlohmann::json index = {{"metadata", {{"total_size", total}}},
                          {"weight_map", nlohmann::json::object()}};
  for (size_t s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards);
    for (size_t i = starts[s]; i < starts[s + 1]; ++i) index["weight_map"][table[i].name] = name;
    write_shard(dir + "/" + name, table, starts[s], starts[s + 1], how, make, wrote);
  }
  write_file(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
}

void write_model(const std::string& dir, const Model& m, const FileSet& files,
                 const std::function<void(int64_t, int64_t)>& progress) {
  const Config& c = m.config;
  std::vector<WeightInfo> table = weight_table(c);
  std::map<std::string, DType> quantized;
  for (const WeightInfo& w : table)
    if (DType t = m.weights.at(w.name).dtype(); is_quantized(t)) quantized[w.name] = t;
  write_file(dir + "/config.json", config_to_json(c).dump(2) + "\n");
  write_weights(
      dir, table, c.torch_dtype, [&](const WeightInfo& w) { return m.weights.at(w.name); },
      progress, quantized);
  for (const auto& [name, contents] : files) write_file(dir + "/" + name, contents);
}

void replace_folder(const std::string& dir,
                    const std::function<void(const std::string& tmp)>& fill) {
  fs::path target = fs::absolute(dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "out/" names the folder "out"
  std::error_code ec;
  if (fs::exists(target, ec)) {
    check(fs::is_directory(target, ec), "'", dir, "' exists and is not a folder");
    check(fs::is_empty(target, ec) || fs::exists(target / "config.json", ec), "'", dir,
          "' exists and is not a checkpoint folder (no config.json); refusing to replace it");
  }
  fs::create_directories(target.parent_path());
  std::string stem = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::path tmp = stem;
  for (int i = 1; fs::exists(tmp, ec); ++i) tmp = stem + "-" + std::to_string(i);
  fs::create_directory(tmp);
  try {
    fill(tmp.string());
    sync_dir(tmp.string());
    if (!fs::exists(target, ec)) {
      fs::rename(tmp, target);
    } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(tmp);  // now the previous folder
    } else {  // filesystems without RENAME_EXCHANGE: two renames, the old folder kept until the end
      fs::path old = tmp.string() + ".old";
      fs::rename(target, old);
      fs::rename(tmp, target);
      fs::remove_all(old);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  sync_dir(target.parent_path().string());
}

}  // namespace purelm
