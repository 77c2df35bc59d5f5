#include "purelm/train/init.h"

#include <cmath>
#include <numbers>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/rows.h"
#include "purelm/train/rng.h"

namespace purelm {

double init_std(const Config& c) {
  auto it = c.raw.find("initializer_range");
  return it != c.raw.end() && it->is_number() ? it->get<double>() : 0.02;
}

Tensor init_weight(const WeightInfo& w, double std, uint64_t seed, DType dtype) {
  Tensor t = Tensor::empty(w.shape, dtype);
  const uint64_t stream = stream_of(w.name);
  // Pairs of elements come from one Box-Muller draw, so chunks start at even indices.
  constexpr int64_t kChunk = 1 << 14;
  parallel_for((t.numel() + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    std::vector<float> buf(static_cast<size_t>(kChunk));
    for (int64_t c = c0; c < c1; ++c) {
      int64_t begin = c * kChunk, n = std::min(kChunk, t.numel() - begin);
      for (int64_t i = 0; i < n; i += 2) {
        if (w.init != Init::Normal) {
          buf[i] = w.init == Init::Ones ? 1.0f : 0.0f;
          buf[i + 1] = buf[i];
          continue;
        }
        uint64_t pair = uint64_t(begin + i) / 2;
        double r = std * std::sqrt(-2 * std::log(random_open01(seed, stream, 2 * pair)));
        double a = 2 * std::numbers::pi * random_open01(seed, stream, 2 * pair + 1);
        buf[i] = float(r * std::cos(a));
        buf[i + 1] = float(r * std::sin(a));
      }
      store_f32(t, begin, n, buf.data());
    }
  });
  return t;
}

WeightSource random_weights(const Config& c, uint64_t seed) {
  return [c, seed, std = init_std(c)](const WeightInfo& w) {
    return init_weight(w, std, seed, c.torch_dtype);
  };
}

Model random_model(const Config& c, uint64_t seed, DType act) {
  const WeightSource draw = random_weights(c, seed);
  std::unordered_map<std::string, Tensor> weights;
  for (const WeightInfo& w : weight_table(c)) weights[w.name] = draw(w);
  return make_model(c, std::move(weights), act);
}

std::string generation_config_json(const Config& c) {
  nlohmann::json j = {{"_from_model_config", true}, {"transformers_version", "4.51.0"}};
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return j.dump(2) + "\n";
}

void write_random_checkpoint(const Config& c, uint64_t seed, const std::string& dir,
                             const FileSet& tokenizer_files,
                             const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<WeightInfo> table = weight_table(c);
  double std = init_std(c);
  replace_folder(dir, [&](const std::string& tmp) {
    write_file(tmp + "/config.json", config_to_json(c).dump(2) + "\n");
    write_weights(
        tmp, table, c.torch_dtype,
        [&](const WeightInfo& w) { return init_weight(w, std, seed, c.torch_dtype); }, progress);
    for (const auto& [name, contents] : tokenizer_files)
      if (name != "generation_config.json") write_file(tmp + "/" + name, contents);
    write_file(tmp + "/generation_config.json", generation_config_json(c));
  });
}

}  // namespace purelm
