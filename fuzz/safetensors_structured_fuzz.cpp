// A well-formed safetensors header with fuzzed dtypes, shapes and offsets: reaches the checks
// behind the JSON parser that random bytes seldom get to.
#include <fuzzer/FuzzedDataProvider.h>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "purelm/io/safetensors.h"

namespace {

using nlohmann::json;

const char* const kDTypes[] = {"F32", "BF16", "F16", "I32", "I64", "U8", "Q8", "Q4", "F64", "bf16"};
constexpr size_t kElementBytes[] = {4, 2, 2, 4, 8, 1, 1, 1, 8, 2};  // the writer's guess
const uint64_t kEdges[] = {0,   1,          2,          3,          7,          8,
                           255, 1ull << 31, 1ull << 32, 1ull << 62, 1ull << 63, ~0ull};

uint64_t number(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? in.PickValueInArray(kEdges)
                          : in.ConsumeIntegralInRange<uint64_t>(0, 64);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  json header = json::object();
  if (in.ConsumeBool()) header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  const int tensors = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < tensors; ++i) {
    const size_t d = in.ConsumeIntegralInRange<size_t>(0, std::size(kDTypes) - 1);
    json shape = json::array();
    uint64_t count = 1;
    for (int r = in.ConsumeIntegralInRange(0, 5); r > 0; --r) {
      uint64_t dim = number(in);
      if (in.ConsumeIntegralInRange(0, 15) == 0)
        shape.push_back(-int64_t(dim >> 1) - 1);
      else
        shape.push_back(dim);
      count *= dim;  // wraps, as a careless writer's would
    }
    uint64_t begin = in.ConsumeBool() ? offset : number(in);
    uint64_t end = in.ConsumeBool() ? begin + count * kElementBytes[d] : number(in);
    offset = std::max(offset, end);
    header["t" + std::to_string(i)] = {
        {"dtype", kDTypes[d]}, {"shape", shape}, {"data_offsets", {begin, end}}};
  }
  std::string text = header.dump();
  text.append(in.ConsumeIntegralInRange<size_t>(0, 7), ' ');
  const size_t data_bytes = in.ConsumeBool() ? std::min<uint64_t>(offset, 1 << 16)
                                             : in.ConsumeIntegralInRange<size_t>(0, 1 << 12);
  std::string file(8, '\0');
  for (int b = 0; b < 8; ++b) file[b] = char(uint64_t(text.size()) >> (8 * b));
  file += text;
  file.append(data_bytes, '\x5a');
  const std::string path = purelm::fuzz::write_file(
      "model.safetensors", reinterpret_cast<const uint8_t*>(file.data()), file.size());
  purelm::fuzz::expect_clear_error([&] {
    auto f = purelm::SafetensorsFile::open(path);
    size_t bytes = 0;
    for (const auto& name : f->names()) {
      purelm::Tensor t = f->get(name);
      bytes += t.nbytes() + size_t(t.numel());
    }
    return bytes;
  });
  return 0;
}
