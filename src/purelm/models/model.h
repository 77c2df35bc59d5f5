// The model contract. A family is a weights table and a forward function (one short file each,
// e.g. qwen3.cpp) and an entry in family.h's table; a Model is a config, the weights the table
// names, and the family.
//
//   Model m = load_model("Qwen/Qwen3-0.6B");
//   KVCache kv = init_kv(m.config, B, S);
//   Tensor logits = m.logits(ids, &kv);  // ids I32 [B, T] -> [B, T, V]
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "purelm/core/tensor.h"
#include "purelm/models/family.h"
#include "purelm/ops/parallel.h"

namespace purelm {

// The key/value cache: per layer [R, S, K, H]; len[r] positions of row r are filled. Stored in F32,
// or in BF16 (half the memory and the bytes each decode step reads; keys and values are rounded).
// A forward runs on all R rows, or on the rows chosen by use_rows (a server's active slots): batch
// row b of its input appends to cache row rows[b], each row at its own length.
struct KVCache {
  std::vector<Tensor> k, v;
  std::vector<int64_t> len;
  std::vector<int64_t> rows;  // the rows the next forwards run on; empty: all, in order
  int64_t capacity() const { return k.empty() ? 0 : k[0].dim(1); }
  int64_t num_rows() const { return int64_t(len.size()); }
  void use_rows(std::vector<int64_t> r);  // distinct rows in [0, R)
  void use_all_rows() { rows.clear(); }
  // Forgets positions n and later of row r (n <= len[r]): a shorter prompt's shared prefix, or a
  // benchmark re-running a step.
  void truncate(int64_t r, int64_t n);
  // Copies the filled positions of row `from_row` of `from` into row r, which then holds as many.
  void copy_row(const KVCache& from, int64_t from_row, int64_t r);
};
KVCache init_kv(const Config& c, int64_t B, int64_t S, DType dtype = DType::F32);

struct Model {
  Config config;
  std::unordered_map<std::string, Tensor> weights;
  const Family* family = nullptr;
  DType act = DType::F32;             // dtype of activations between ops (F32 or BF16)
  bool recompute = false;             // training keeps only each layer's input (see block)
  std::vector<double> rope_inv_freq;  // from rope_theta and rope_scaling
  std::string dir;                    // where it was loaded from ("" for a fresh init)
  // Called with a weight's name before each read of it; a mesh that shards weights over processes
  // (dist/) gathers a layer here on demand. Empty for a model held whole.
  std::function<void(const std::string& name)> on_use;
  // Tensor parallelism's plan (a mesh, dist/, sets it): how each weight this process holds a slice
  // of is split over its group, by name, and where this process's part sits. Empty and the
  // default place for a model held whole.
  std::unordered_map<std::string, SplitMark> splits;
  ShardPlace place;

  Weight w(const std::string& name) const;          // the tensor, with its split from the plan
  Weight layer(int64_t l, const char* name) const;  // "model.layers.{l}." + name
  // lm_head when the model holds one (weight_table), else the tied embedding
  Weight output_weight() const;
  Tensor hidden(const Tensor& ids, KVCache* kv = nullptr) const;  // the family's forward
  Tensor logits(const Tensor& ids, KVCache* kv = nullptr) const;
  // One decoder layer, x -> body(x). With `recompute` it is a checkpoint (ops/autograd.h), re-run
  // in the backward, so body captures by value (all but the model and its config).
  Tensor block(const Tensor& x, std::function<Tensor(Tensor)> body) const;
};

// Reads config.json and the safetensors weights (memory-mapped, not copied) of a folder or a repo
// id from the HuggingFace cache; checks every tensor of its weight_table against its shape.
Model load_model(const std::string& spec, DType act = DType::F32);
// One weight of a table, whole: a view of a checkpoint's memory map, or a random init
// (train/init.h), taken one at a time by whoever keeps only part of each (a mesh,
// dist/mesh_model.h).
using WeightSource = std::function<Tensor(const WeightInfo&)>;
// The weights of a checkpoint folder (a quantized one's U8 rows read as Q8 or Q4: models/
// quantize.h), each checked against the table's shape.
WeightSource checkpoint_weights(const std::string& dir);
// Builds a model around given weights (e.g. a random init), checking them against weight_table.
Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights,
                 DType act = DType::F32);
// The same against a given table of shapes (a tensor-parallel rank's slices: dist/sharding.h).
Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights, DType act,
                 const std::vector<WeightInfo>& table);

// Used by the family files: positions of the new tokens, the cache rows attention reads for each
// batch row (attention's kv_rows), and the cache update for layer l which returns the keys and
// values attention should read ([R, S, K, H]).
std::vector<int64_t> start_positions(const KVCache* kv, int64_t B);
std::vector<int64_t> cache_rows(const KVCache* kv);
std::pair<Tensor, Tensor> cache_kv(KVCache* kv, int64_t l, const Tensor& k, const Tensor& v);
void advance(KVCache* kv, int64_t T);

}  // namespace purelm
