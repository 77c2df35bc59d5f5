// A whole .safetensors file: header length, JSON header, data; every tensor is then read.
#include "fuzz_util.h"
#include "purelm/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = purelm::fuzz::write_file("model.safetensors", data, size);
  purelm::fuzz::expect_clear_error([&] {
    auto f = purelm::SafetensorsFile::open(path);
    f->metadata();
    uint8_t sum = 0;
    for (const auto& name : f->names()) {
      purelm::Tensor t = f->get(name);
      const auto* p = static_cast<const uint8_t*>(t.raw());
      for (size_t i = 0; i < t.nbytes(); ++i) sum ^= p[i];
    }
    return sum;
  });
  return 0;
}
