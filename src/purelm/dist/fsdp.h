// Fully sharded data parallelism (ZeRO-3) over the mesh's fsdp axis. Each process keeps a flat
// shard of 1/P of every parameter's elements (padded to a multiple of P): bf16 weights stay bf16
// for inference, and become float32 when they are trained; gradients and AdamW moments live on the
// shards too. Parameters are grouped by decoder layer. A layer is
// all-gathered into a full buffer when the model first reads one of its weights, and released
// (its pages handed back to the OS, the addresses kept) when the forward moves to the next layer.
// While a Tape records, the layer is gathered again just before its backward runs, and after it
// its gradients are reduce-scattered onto the shards and freed. With activation recomputation
// (ops/autograd.h: checkpoint) the forward records nothing per layer; the replay in the backward
// reads the layer again, which gathers it and records its reduce-scatter. The embedding, final norm
// and lm_head form one group that stays gathered through a step (the forward reads it first and
// last).
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>

#include "purelm/dist/mesh.h"
#include "purelm/models/model.h"

namespace purelm::dist {

class Fsdp {
 public:
  // `table` is the weights table this process runs (its TP-local shapes); `slice(i)` returns its
  // TP slice of entry i, of which only this process's flat shard is read and kept.
  Fsdp(const Group& group, const std::vector<WeightInfo>& table,
       const std::function<Tensor(size_t)>& slice);
  Fsdp(const Fsdp&) = delete;
  Fsdp& operator=(const Fsdp&) = delete;

  // Points m's weights at the full buffers and gathers layers on demand through Model::on_use.
  void attach(Model& m);
  // From now on the shards are float32 and the full tensors require gradients, which flow back
  // onto the shards. Widening bf16 shards makes new full tensors: attach the model again.
  void set_trainable();
  // The shards by name, in table order: what an optimizer updates.
  std::vector<std::pair<std::string, Tensor>> shards() const;
  // The shards changed (an optimizer step): every gathered copy is stale.
  void invalidate();
  const Tensor& full_tensor(size_t i) const { return entries_[i].full; }
  // This process's shard of a value of entry i (shaped as the table this process runs).
  Tensor shard_of(size_t i, const Tensor& t) const;
  // Entry i whole from every process's shard of it (a value, gradient or moment), on all of them.
  Tensor unshard(size_t i, const Tensor& shard) const;
  int64_t shard_bytes() const;  // parameters this process keeps

 private:
  struct Entry {
    std::string name;
    Shape shape;
    int64_t chunk;  // shard elements: numel / P, rounded up
    Tensor shard, full;
  };
  struct GroupState {
    std::vector<size_t> entries;
    std::shared_ptr<void> region;  // the full buffers: one anonymous mapping
    size_t bytes = 0;
    bool resident = false, pending = false;  // pending: its gradients are due in the backward
  };
  const Group& group_;
  std::vector<Entry> entries_;
  std::vector<GroupState> groups_;  // 0: embedding, final norm, lm_head; l + 1: layer l
  std::unordered_map<std::string, int> group_of_;
  int current_ = -1;  // the layer the forward is in
  bool trainable_ = false;

  void lay_out();  // the full buffers of every group, in the shards' dtypes, not yet gathered
  void use(const std::string& name);
  void gather(int g);
  void release(int g);
  void reduce_grads(int g);
};

}  // namespace purelm::dist
