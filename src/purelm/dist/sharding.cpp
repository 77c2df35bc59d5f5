#include "purelm/dist/sharding.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "purelm/core/quant.h"

namespace purelm::dist {

namespace {

// The one mapping from logical axes to mesh axes: tensor parallelism splits heads, the MLP width
// and the vocabulary (the rows of the embedding and of the output head). The embedding dimension
// stays whole on every TP rank (FSDP shards every parameter instead).
const std::map<std::string, const char*> kTpAxes = {
    {"q_heads", "num_attention_heads"},
    {"kv_heads", "num_key_value_heads"},
    {"mlp", "intermediate_size / moe_intermediate_size"},
    {"vocab", "vocab_size"}};

}  // namespace

int tp_dim(const WeightInfo& w) {
  for (size_t d = 0; d < w.axes.size(); ++d)
    if (kTpAxes.count(w.axes[d])) return int(d);
  return -1;
}

bool tp_partial_grad(const WeightInfo& w) {
  return std::find(w.axes.begin(), w.axes.end(), "head_dim") != w.axes.end();
}

std::optional<Split> tp_split(const WeightInfo& w) {
  int d = tp_dim(w);
  if (d < 0) return std::nullopt;
  return d == 0 ? Split::Out : Split::In;
}

Config local_config(const Config& full, int tp) {
  auto divide = [tp](int64_t n, const char* what) {
    check(n % tp == 0, "--tp ", tp, " does not divide ", what, " ", n,
          ": tensor parallelism splits it evenly over the TP ranks");
    return n / tp;
  };
  Config c = full;
  c.num_attention_heads = divide(full.num_attention_heads, "num_attention_heads");
  c.num_key_value_heads = divide(full.num_key_value_heads, "num_key_value_heads");
  for (const WeightInfo& w : weight_table(full)) {
    int d = tp_dim(w);
    if (d < 0 || tp == 1) continue;
    check(w.shape[size_t(d)] % tp == 0, "--tp ", tp, " does not divide ", w.axes[size_t(d)],
          " size ", w.shape[size_t(d)], " of '", w.name, "' (", kTpAxes.at(w.axes[size_t(d)]), ")");
    // A quantized checkpoint's blocks cannot be cut: each slice of columns takes whole ones.
    // (Tested before check(), which formats its message first: 1-D weights have no shape[1].)
    if (full.quant && d == 1)
      check((w.shape[1] / tp) % quant::kBlock == 0, "--tp ", tp, " splits the ", w.shape[1],
            " input columns of quantized '", w.name, "' into ", w.shape[1] / tp,
            ", not whole blocks of ", quant::kBlock,
            ": quantize the float checkpoint at load (--quant) instead");
  }
  if (full.intermediate_size)
    c.intermediate_size = divide(full.intermediate_size, "intermediate_size");
  if (full.moe_intermediate_size)
    c.moe_intermediate_size = divide(full.moe_intermediate_size, "moe_intermediate_size");
  return c;
}

std::vector<WeightInfo> local_table(std::vector<WeightInfo> table, int tp) {
  for (WeightInfo& w : table)
    if (int d = tp_dim(w); d >= 0) w.shape[size_t(d)] /= tp;
  return table;
}

Tensor tp_slice(const Tensor& full, int dim, int rank, int size) {
  if (dim < 0 || size == 1) return full;
  int64_t n = full.dim(dim) / size;
  if (dim == 0) return full.narrow(rank * n, n);
  const DType t = full.dtype();
  check(!is_quantized(t) || n % quant::kBlock == 0, "cannot split ", full.shape(), " ",
        dtype_name(t), " into column slices of ", n, ": not whole blocks of ", quant::kBlock);
  const int64_t rows = full.dim(0);
  const size_t in_row = row_bytes(t, full.dim(1)), out_row = row_bytes(t, n);
  Tensor out = Tensor::empty({rows, n}, t);
  auto* dst = static_cast<char*>(out.raw());
  auto* src = static_cast<const char*>(full.raw());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + size_t(r) * out_row, src + size_t(r) * in_row + size_t(rank) * out_row,
                out_row);
  return out;
}

Tensor tp_unslice(const std::vector<float>& slices, const Shape& full_shape, int dim, int size) {
  Tensor out = Tensor::empty(full_shape, DType::F32);
  float* dst = out.data<float>();
  if (dim <= 0) {  // rows: the slices are already in order
    std::memcpy(dst, slices.data(), size_t(out.numel()) * sizeof(float));
    return out;
  }
  int64_t rows = full_shape[0], cols = full_shape[1], n = cols / size;
  for (int t = 0; t < size; ++t)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * cols + t * n, slices.data() + (t * rows + r) * n,
                  size_t(n) * sizeof(float));
  return out;
}

}  // namespace purelm::dist
