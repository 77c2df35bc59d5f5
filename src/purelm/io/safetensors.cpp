#include "purelm/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace purelm {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Same bound as the reference implementation: a larger header is corrupt or hostile.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Real files hold at most tens of thousands of tensors (a whole MoE model in one file) of rank
// at most 5; more is hostile, and each entry costs memory beyond its bytes in the header.
constexpr size_t kMaxTensors = 200'000;
constexpr size_t kMaxRank = 8;
constexpr const char* kSupportedDTypes = "F32, BF16, F16, I32, I64, U8";

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// Reads errno before anything else can change it.
[[noreturn]] void sys_error(const char* what, const std::string& path) {
  int err = errno;
  fail(what, " ", in_quotes(path), ": ", std::strerror(err));
}

[[noreturn]] void file_error(const std::string& path, const std::string& msg) {
  fail("invalid safetensors file ", in_quotes(path), ": ", msg);
}

[[noreturn]] void tensor_error(const std::string& path, const std::string& name,
                               const std::string& msg) {
  fail("tensor ", in_quotes(name), " in file ", in_quotes(path), ": ", msg);
}

// A JSON value for an error message: containers by kind only, since dumping a hostile value
// could be huge or nest deep enough to exhaust the stack.
std::string describe(const json& v) {
  if (v.is_structured()) return std::string("an ") + v.type_name();
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Drops nlohmann's "[json.exception.parse_error.101] " prefix; the rest names the position.
std::string json_message(const json::exception& e) {
  std::string s = e.what();
  size_t p = s.find("] ");
  return p == std::string::npos ? s : s.substr(p + 2);
}

// Parses the header, rejecting duplicate keys, which nlohmann would otherwise silently merge.
json parse_header(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate;
  size_t duplicate_depth = 0;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (ev == json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (ev == json::parse_event_t::key && duplicate.empty()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second) duplicate = k, duplicate_depth = keys.size();
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    file_error(path, "header is not valid JSON: " + json_message(e));
  }
  if (!duplicate.empty()) {
    if (duplicate_depth == 1) file_error(path, "duplicate tensor name " + in_quotes(duplicate));
    file_error(path, "duplicate key " + in_quotes(duplicate) + " in header");
  }
  if (!j.is_object()) {
    file_error(path, std::string("header is a JSON ") + j.type_name() + ", expected an object");
  }
  return j;
}

// A JSON integer >= 0 as uint64, or an error naming `what`.
uint64_t non_negative(const json& v, const std::string& path, const std::string& name,
                      const std::string& what) {
  if (!v.is_number_integer()) {
    tensor_error(path, name, what + " must be an integer, got " + describe(v));
  }
  if (!v.is_number_unsigned()) tensor_error(path, name, what + " is negative: " + describe(v));
  return v.get<uint64_t>();
}

struct FileDescriptor {  // closes on every exit; the mapping outlives it
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& path, const std::string& name) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > uint64_t(INT64_MAX)) {
    tensor_error(path, name, "shape is too large (element count overflows)");
  }
  return r;
}

// One tensor's header entry, offsets relative to the data section.
struct Layout {
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Layout parse_entry(const std::string& path, const std::string& name, const json& e,
                   uint64_t data_size) {
  if (!e.is_object()) tensor_error(path, name, "entry must be an object, got " + describe(e));
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!e.contains(key)) tensor_error(path, name, std::string("missing '") + key + "'");
  }
  const json &jd = e["dtype"], &js = e["shape"], &jo = e["data_offsets"];
  if (!jd.is_string()) tensor_error(path, name, "dtype must be a string, got " + describe(jd));
  Layout l;
  const auto& dname = jd.get_ref<const std::string&>();
  if (!parse_dtype(dname, &l.dtype)) {
    tensor_error(
        path, name,
        "unsupported dtype " + in_quotes(dname) + " (supported: " + kSupportedDTypes + ")");
  }
  if (!js.is_array()) tensor_error(path, name, "shape must be an array, got " + describe(js));
  if (js.size() > kMaxRank) {
    tensor_error(path, name,
                 "shape has " + std::to_string(js.size()) + " dimensions, more than the limit of " +
                     std::to_string(kMaxRank));
  }
  uint64_t count = 1;
  for (const json& d : js) {
    uint64_t dim = non_negative(d, path, name, "shape dimension");
    count = checked_mul(count, dim, path, name);
    l.shape.push_back(int64_t(dim));
  }
  if (!jo.is_array() || jo.size() != 2) {
    tensor_error(path, name, "data_offsets must be [begin, end], got " + describe(jo));
  }
  l.begin = non_negative(jo[0], path, name, "data_offsets begin");
  l.end = non_negative(jo[1], path, name, "data_offsets end");
  if (l.begin > l.end) {
    tensor_error(
        path, name,
        "data_offsets begin " + std::to_string(l.begin) + " > end " + std::to_string(l.end));
  }
  if (l.end > data_size) {
    tensor_error(path, name,
                 "data_offsets end " + std::to_string(l.end) + " is beyond the data section (" +
                     std::to_string(data_size) + " bytes)");
  }
  uint64_t bytes = checked_mul(count, dtype_size(l.dtype), path, name);
  if (bytes != l.end - l.begin) {
    tensor_error(path, name,
                 "shape " + to_string(l.shape) + " of " + dname + " needs " +
                     std::to_string(bytes) + " bytes but data_offsets span " +
                     std::to_string(l.end - l.begin));
  }
  return l;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& m) {
  if (!m.is_object()) file_error(path, "__metadata__ must be an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string()) {
      file_error(path,
                 "__metadata__ value of " + in_quotes(k) + " must be a string, got " + describe(v));
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

// Two tensors must not share bytes; empty ranges hold nothing and may sit anywhere.
template <class Entries>
void check_disjoint(const std::string& path, const Entries& entries) {
  std::vector<std::tuple<size_t, size_t, const std::string*>> ranges;  // begin, end, name
  for (const auto& [name, e] : entries) {
    if (e.end > e.begin) ranges.emplace_back(e.begin, e.end, &name);
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1])) {
      file_error(path, "tensors " + in_quotes(*std::get<2>(ranges[i - 1])) + " and " +
                           in_quotes(*std::get<2>(ranges[i])) + " overlap");
    }
  }
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->self_ = f;
  f->path_ = path;

  FileDescriptor fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) sys_error("cannot open", path);
  struct stat st;
  if (fstat(fd.fd, &st) != 0) sys_error("cannot open", path);
  if (!S_ISREG(st.st_mode)) {
    fail("cannot open ", in_quotes(path), ": ",
         S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : "not a regular file");
  }
  size_t size = size_t(st.st_size);
  if (size < 8) {
    file_error(path,
               "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (p == MAP_FAILED) sys_error("cannot map", path);
  f->base_ = static_cast<const unsigned char*>(p);
  f->size_ = size;

  uint64_t n = 0;  // little-endian, whatever the host order
  for (int i = 7; i >= 0; --i) n = (n << 8) | f->base_[i];
  if (n > kMaxHeaderBytes) {
    file_error(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (n > size - 8) {
    file_error(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(size) + " bytes)");
  }
  const char* header = reinterpret_cast<const char*>(f->base_ + 8);
  json j = parse_header(path, header, header + n);
  const uint64_t data_start = 8 + n, data_size = size - data_start;
  if (j.size() > kMaxTensors + j.contains("__metadata__")) {
    file_error(path, "header lists " + std::to_string(j.size()) +
                         " entries, more than the limit of " + std::to_string(kMaxTensors) +
                         " tensors");
  }

  for (const auto& [name, e] : j.items()) {
    if (name == "__metadata__") {
      f->metadata_ = parse_metadata(path, e);
      continue;
    }
    Layout l = parse_entry(path, name, e, data_size);
    f->entries_.emplace(
        name, Entry{l.dtype, std::move(l.shape), data_start + l.begin, data_start + l.end});
  }
  check_disjoint(path, f->entries_);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_) munmap(const_cast<unsigned char*>(base_), size_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    fail("tensor ", in_quotes(name), " not found in file ", in_quotes(path_));
  }
  const Entry& e = it->second;
  const unsigned char* p = base_ + e.begin;
  // Kernels load elements through typed pointers; a file laid out without alignment gets a copy.
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    std::memcpy(t.raw(), p, e.end - e.begin);
    return t;
  }
  return Tensor::borrow(p, e.shape, e.dtype, self_.lock());
}

TensorStore TensorStore::open_file(const std::string& path) {
  TensorStore s;
  s.origin_ = "file " + in_quotes(path);
  s.files_.push_back(SafetensorsFile::open(path));
  for (const auto& name : s.files_[0]->names()) s.where_[name] = 0;
  return s;
}

namespace {

// model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
json read_index(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) sys_error("cannot open", path);
  json index;
  try {
    index = json::parse(in);
  } catch (const json::exception& e) {
    fail("index ", in_quotes(path), " is not valid JSON: ", json_message(e));
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    fail("index ", in_quotes(path), ": expected an object with a \"weight_map\" object");
  }
  return index;
}

}  // namespace

TensorStore TensorStore::open_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail("cannot open model folder ", in_quotes(dir), ": ",
         fs::exists(dir, ec) ? "not a directory" : "no such directory");
  }
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(index_path, ec)) {
    const fs::path single = fs::path(dir) / "model.safetensors";
    if (!fs::exists(single, ec)) {
      fail("no model.safetensors or model.safetensors.index.json in ", in_quotes(dir));
    }
    TensorStore s = open_file(single.string());
    s.origin_ = "folder " + in_quotes(dir);
    return s;
  }

  const std::string ip = index_path.string();
  const json index = read_index(ip);

  TensorStore s;
  s.origin_ = "folder " + in_quotes(dir);
  std::map<std::string, size_t> shard_index;  // shard file name -> index into files_
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      fail("index ", in_quotes(ip), ": shard of tensor ", in_quotes(name),
           " must be a string, got ", describe(shard));
    }
    const auto& file = shard.get_ref<const std::string&>();
    // Shards live next to the index; anything else is a corrupt (or hostile) index.
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      fail("index ", in_quotes(ip), ": shard ", in_quotes(file), " of tensor ", in_quotes(name),
           " is not a file name in the folder");
    }
    auto [it, added] = shard_index.emplace(file, s.files_.size());
    if (added) s.files_.push_back(SafetensorsFile::open((fs::path(dir) / file).string()));
    if (!s.files_[it->second]->contains(name)) {
      fail("index ", in_quotes(ip), " puts tensor ", in_quotes(name), " in shard ", in_quotes(file),
           ", but the shard does not contain it");
    }
    s.where_[name] = it->second;
  }
  // Tensors the index forgot are still reachable, provided exactly one shard holds them.
  std::map<std::string, size_t> extra;
  for (size_t i = 0; i < s.files_.size(); ++i) {
    for (const auto& name : s.files_[i]->names()) {
      if (s.where_.count(name)) continue;
      auto [it, added] = extra.emplace(name, i);
      if (!added) {
        fail("tensor ", in_quotes(name), " is in both ", in_quotes(s.files_[it->second]->path()),
             " and ", in_quotes(s.files_[i]->path()), " and the index names neither");
      }
    }
  }
  s.where_.merge(extra);
  return s;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, i] : where_) out.push_back(name);
  return out;
}

Tensor TensorStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("tensor ", in_quotes(name), " not found in ", origin_);
  return files_[it->second]->get(name);
}

namespace {

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) sys_error("cannot write", path);
    p += w;
    n -= size_t(w);
  }
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Written by hand rather than through a json object, whose lookups would make this quadratic.
  std::string text = "{";
  std::set<std::string> seen;
  uint64_t offset = 0;  // tensors back to back: the reference reader requires contiguous data
  try {
    if (!metadata.empty()) text += "\"__metadata__\":" + json(metadata).dump();
    for (const auto& [name, t] : tensors) {
      if (!t.defined()) {
        fail("cannot save ", in_quotes(path), ": tensor ", in_quotes(name), " is undefined");
      }
      if (name == "__metadata__" || !seen.insert(name).second) {
        fail("cannot save ", in_quotes(path), ": tensor name ", in_quotes(name),
             " is reserved or used twice");
      }
      json entry = {{"dtype", std::string(dtype_name(t.dtype()))},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
      if (text.size() > 1) text += ',';
      text += json(name).dump();
      text += ':';
      text += entry.dump();
      offset += t.nbytes();
    }
  } catch (const json::exception& e) {  // a name that is not UTF-8
    fail("cannot save ", in_quotes(path), ": ", json_message(e));
  }
  text += "}";
  // Padding to 8 bytes keeps every tensor as aligned as its offset within the data.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));

  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) sys_error("cannot create", tmp);
  try {
    write_all(fd, len, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const auto& [name, t] : tensors) {
      if (t.nbytes()) write_all(fd, t.raw(), t.nbytes(), tmp);
    }
    if (fsync(fd) != 0) sys_error("cannot sync", tmp);
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) sys_error("cannot close", tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) sys_error("cannot rename to", path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace purelm
