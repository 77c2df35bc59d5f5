// safetensors: memory-mapped, zero-copy reading with strict validation, sharded checkpoints
// through model.safetensors.index.json, and an atomic writer.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
// {"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}}, then the
// data; offsets are relative to the first byte after the header.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

// One validated, memory-mapped .safetensors file. Tensors returned by get() borrow the mapping
// and keep it alive. Every error names the file (and the tensor where there is one).
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  Tensor get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    size_t begin, end;  // absolute byte offsets in the file
  };
  SafetensorsFile() = default;
  std::string path_;
  const unsigned char* base_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<SafetensorsFile> self_;
};

// The weights of a checkpoint folder: model.safetensors, or the shards that
// model.safetensors.index.json names (every tensor must be in the shard the index says).
class TensorStore {
 public:
  static TensorStore open_dir(const std::string& dir);
  static TensorStore open_file(const std::string& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  Tensor get(const std::string& name) const;  // throws naming the tensor and folder if absent

 private:
  std::string origin_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // name -> index into files_
};

// Writes tensors (any dtype, contiguous) in the given order to `path` atomically (temp + rename).
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace purelm
