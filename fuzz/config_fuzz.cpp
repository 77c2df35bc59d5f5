// config.json of every family: read, validated and written back.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "purelm/io/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = purelm::fuzz::write_file("config.json", data, size);
  purelm::fuzz::expect_clear_error([&] {
    purelm::Config c = purelm::load_config(path);
    for (int64_t l = 0; l < std::min<int64_t>(c.num_hidden_layers, 64); ++l) c.is_sparse_layer(l);
    return purelm::config_to_json(c).dump();
  });
  return 0;
}
