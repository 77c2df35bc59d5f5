// config.json of every family: read, validated and written back. The families' own rules are in
// models/ (not in this build), so each input runs under every kind of rules there is: head_dim
// defaulted or derived from D / N, with the expert fields or without, named as the input's
// model_type says (else unsupported).
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "purelm/io/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = purelm::fuzz::write_file("config.json", data, size);
  const auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  const std::string type = j.is_object() && j.contains("model_type") && j["model_type"].is_string()
                               ? j["model_type"].get<std::string>()
                               : "";
  for (int kind = 0; kind < 4; ++kind) {
    const purelm::ConfigRules rules{type.c_str(), "FuzzForCausalLM", kind & 1 ? 128 : 0, 1e6,
                                    1e-5,         (kind & 2) != 0};
    const purelm::ConfigRules* families[] = {&rules};
    purelm::fuzz::expect_clear_error([&] {
      purelm::Config c = purelm::load_config(path, families);
      for (int64_t l = 0; l < std::min<int64_t>(c.num_hidden_layers, 64); ++l) c.is_sparse_layer(l);
      return purelm::config_to_json(c).dump();
    });
  }
  return 0;
}
