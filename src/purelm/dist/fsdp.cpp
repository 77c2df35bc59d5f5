#include "purelm/dist/fsdp.h"

#include <sys/mman.h>

#include <cstring>

#include "purelm/ops/autograd.h"
#include "purelm/ops/rows.h"

namespace purelm::dist {

namespace {

int group_index(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return 0;
  return std::stoi(name.substr(prefix.size())) + 1;
}

std::shared_ptr<void> map_anonymous(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  check(p != MAP_FAILED, "fsdp: cannot reserve ", bytes, " bytes for a gathered layer");
  return std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, bytes); });
}

// Elements [r chunk, (r + 1) chunk) of t, flat, zero past its end: bf16 as they are, other types as
// float32.
Tensor flat_shard(const Tensor& t, int64_t chunk, int64_t r) {
  const DType dtype = t.dtype() == DType::BF16 ? DType::BF16 : DType::F32;
  Tensor out = Tensor::zeros({chunk}, dtype);
  int64_t n = t.numel(), begin = std::min(n, r * chunk), len = std::min(n, begin + chunk) - begin;
  if (dtype == DType::BF16)
    std::memcpy(out.data<bf16>(), t.data<bf16>() + begin, size_t(len) * sizeof(bf16));
  else
    load_f32(t, begin, len, out.data<float>());
  return out;
}

}  // namespace

Fsdp::Fsdp(const Group& group, const std::vector<WeightInfo>& table,
           const std::function<Tensor(size_t)>& slice)
    : group_(group) {
  const int64_t P = group.size(), r = group.rank();
  for (size_t i = 0; i < table.size(); ++i) {
    const WeightInfo& info = table[i];
    int64_t chunk = (numel(info.shape) + P - 1) / P;
    Tensor src = slice(i);  // reads only this process's elements of it
    check(src.shape() == info.shape, "weight '", info.name, "' has shape ", src.shape(),
          " on this process but the table implies ", info.shape);
    Entry e{info.name, info.shape, chunk, flat_shard(src, chunk, r), Tensor()};
    int g = group_index(info.name);
    if (size_t(g) >= groups_.size()) groups_.resize(size_t(g) + 1);
    groups_[size_t(g)].entries.push_back(i);
    group_of_[info.name] = g;
    entries_.push_back(std::move(e));
  }
  lay_out();
}

void Fsdp::lay_out() {
  const int64_t P = group_.size();
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (GroupState& s : groups_) {
    s.bytes = 0;
    for (size_t i : s.entries)
      s.bytes += size_t(entries_[i].chunk * P) * dtype_size(entries_[i].shard.dtype());
    s.bytes = (s.bytes + page - 1) / page * page;
    s.region = map_anonymous(std::max(s.bytes, page));
    s.resident = false;
    auto* at = static_cast<char*>(s.region.get());
    for (size_t i : s.entries) {  // a slot of P * chunk values each, so gathers land in place
      Entry& e = entries_[i];
      e.full = Tensor::borrow(at, e.shape, e.shard.dtype(), s.region);
      at += e.chunk * P * int64_t(dtype_size(e.shard.dtype()));
    }
  }
  current_ = -1;
}

void Fsdp::attach(Model& m) {
  for (const Entry& e : entries_) m.weights[e.name] = e.full;
  m.on_use = [this](const std::string& name) { use(name); };
}

void Fsdp::set_trainable() {
  trainable_ = true;
  bool widened = false;
  for (Entry& e : entries_) {  // AdamW updates float32 shards
    if (e.shard.dtype() == DType::F32) continue;
    e.shard = e.shard.to(DType::F32);
    widened = true;
  }
  if (widened) lay_out();
  for (const Entry& e : entries_) {
    e.full.set_requires_grad(true);
    e.shard.set_requires_grad(true);  // it receives the reduce-scattered gradient
  }
}

std::vector<std::pair<std::string, Tensor>> Fsdp::shards() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Entry& e : entries_) out.push_back({e.name, e.shard});
  return out;
}

void Fsdp::invalidate() {
  for (size_t g = 0; g < groups_.size(); ++g) release(int(g));
  current_ = -1;
}

void Fsdp::use(const std::string& name) {
  auto it = group_of_.find(name);
  if (it == group_of_.end()) return;
  const int g = it->second;
  Tape* tape = trainable_ ? Tape::recording() : nullptr;
  if (g != 0 && g != current_) {
    if (current_ > 0 && groups_[size_t(current_)].resident) {
      release(current_);
      int left = current_;  // the backward reaches it again later: gather it first
      if (tape && groups_[size_t(left)].pending)
        tape->record(Tensor(), [this, left] { gather(left); });
    }
    current_ = g;
  }
  GroupState& s = groups_[size_t(g)];
  if (!s.resident) gather(g);
  if (tape && !s.pending) {  // runs after every backward step of this group (recorded before)
    s.pending = true;
    tape->record(Tensor(), [this, g] {
      reduce_grads(g);
      release(g);
      groups_[size_t(g)].pending = false;
    });
  }
}

void Fsdp::gather(int g) {
  GroupState& s = groups_[size_t(g)];
  if (s.resident) return;
  for (size_t i : s.entries) {
    Entry& e = entries_[i];
    if (e.shard.dtype() == DType::BF16)
      group_.all_gather(e.shard.data<bf16>(), e.full.data<bf16>(), e.chunk);
    else
      group_.all_gather(e.shard.data<float>(), e.full.data<float>(), e.chunk);
  }
  s.resident = true;
}

void Fsdp::release(int g) {
  GroupState& s = groups_[size_t(g)];
  if (!s.resident) return;
  madvise(s.region.get(), s.bytes, MADV_DONTNEED);
  s.resident = false;
}

void Fsdp::reduce_grads(int g) {
  const int64_t P = group_.size();
  for (size_t i : groups_[size_t(g)].entries) {
    Entry& e = entries_[i];
    // Every process takes part even without a gradient (an expert no local token chose).
    std::vector<float> padded(size_t(e.chunk * P), 0.0f), mine(size_t(e.chunk));
    if (e.full.has_grad()) {
      std::memcpy(padded.data(), e.full.grad().data<float>(), e.full.nbytes());
      e.full.release_grad();
    }
    group_.reduce_scatter_sum(padded.data(), mine.data(), e.chunk);
    accumulate_grad(e.shard, mine.data());
  }
}

Tensor Fsdp::shard_of(size_t i, const Tensor& t) const {
  const Entry& e = entries_[i];
  check(t.shape() == e.full.shape(), "'", e.name, "' has shape ", t.shape(),
        " but this process runs it as ", e.full.shape());
  Tensor s = flat_shard(t, e.chunk, group_.rank());
  return s.dtype() == e.shard.dtype() ? s : s.to(e.shard.dtype());
}

Tensor Fsdp::unshard(size_t i, const Tensor& shard) const {
  const Entry& e = entries_[i];
  check(shard.dtype() == DType::F32, "fsdp: unshard takes float32 shards");
  std::vector<float> all(size_t(e.chunk * group_.size()));
  group_.all_gather(shard.data<float>(), all.data(), e.chunk);
  all.resize(size_t(e.full.numel()));
  return Tensor::from_f32(all, e.full.shape());
}

int64_t Fsdp::shard_bytes() const {
  int64_t n = 0;
  for (const Entry& e : entries_) n += int64_t(e.shard.nbytes());
  return n;
}

}  // namespace purelm::dist
