// model.safetensors.index.json of a sharded checkpoint, over two small real shards.
#include "fuzz_util.h"
#include "purelm/io/safetensors.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The shards hold a, b (shard 1) and c, b2 (shard 2); the index is what varies.
  using purelm::Tensor;
  const fs::path dir = purelm::fuzz::scratch_dir();
  purelm::save_safetensors(
      (dir / "model-00001-of-00002.safetensors").string(),
      {{"a", Tensor::from_f32({1, 2}, {2})}, {"b", Tensor::from_i32({3}, {1})}});
  purelm::save_safetensors(
      (dir / "model-00002-of-00002.safetensors").string(),
      {{"c", Tensor::from_f32({4}, {1, 1})}, {"b2", Tensor::from_i32({}, {0})}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  purelm::fuzz::write_file("model.safetensors.index.json", data, size);
  purelm::fuzz::expect_clear_error([&] {
    auto store = purelm::TensorStore::open_dir(purelm::fuzz::scratch_dir().string());
    size_t bytes = 0;
    for (const auto& name : store.names()) bytes += store.get(name).nbytes();
    return bytes;
  });
  return 0;
}
