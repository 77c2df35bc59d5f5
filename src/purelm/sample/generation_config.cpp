#include "purelm/sample/generation_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace purelm {

GenerationDefaults generation_defaults(const Model& m, const std::vector<int64_t>& tokenizer_eos) {
  GenerationDefaults d;
  d.sampler.temperature = 0;
  d.eos_ids = m.config.eos_token_ids;
  auto add_eos = [&](int64_t id) {
    if (std::find(d.eos_ids.begin(), d.eos_ids.end(), id) == d.eos_ids.end())
      d.eos_ids.push_back(id);
  };
  for (int64_t id : tokenizer_eos) add_eos(id);
  std::string path = m.dir + "/generation_config.json";
  if (m.dir.empty() || !std::filesystem::exists(path)) return d;
  nlohmann::json j;
  try {
    std::ifstream f(path);
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  check(j.is_object(), path, ": expected a JSON object");
  auto num = [&](const char* key, auto& out) {
    if (j.contains(key) && j[key].is_number())
      out = j[key].get<std::remove_reference_t<decltype(out)>>();
  };
  if (j.value("do_sample", false)) {
    d.sampler.temperature = 1.0f;
    num("temperature", d.sampler.temperature);
    num("top_k", d.sampler.top_k);
    num("top_p", d.sampler.top_p);
    num("min_p", d.sampler.min_p);
  }
  num("repetition_penalty", d.sampler.repetition_penalty);
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) add_eos(e.get<int64_t>());
    if (e.is_array())
      for (const auto& x : e)
        if (x.is_number_integer()) add_eos(x.get<int64_t>());
  }
  return d;
}

}  // namespace purelm
