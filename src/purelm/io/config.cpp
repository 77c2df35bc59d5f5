#include "purelm/io/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "purelm/core/error.h"

namespace purelm {

namespace {

using nlohmann::json;

// Reads typed fields of one JSON object; every error names the file. Optional fields treat
// null like absence, as HF does.
class Fields {
 public:
  Fields(const json& j, std::string origin, std::string prefix = "")
      : j_(j), origin_(std::move(origin)), prefix_(std::move(prefix)) {}

  [[noreturn]] void error(const std::string& msg) const {
    fail("config.json (", origin_, "): ", msg);
  }

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  const json& required(const char* key) const {
    if (!has(key)) error("missing required field '" + prefix_ + key + "'");
    return j_[key];
  }

  int64_t integer(const char* key) const { return as_integer(required(key), key); }
  int64_t integer(const char* key, int64_t def) const {
    return has(key) ? as_integer(j_[key], key) : def;
  }
  double number(const char* key) const { return as_number(required(key), key); }
  double number(const char* key, double def) const {
    return has(key) ? as_number(j_[key], key) : def;
  }
  bool boolean(const char* key, bool def) const {
    if (!has(key)) return def;
    if (!j_[key].is_boolean()) wrong_type(key, "a boolean");
    return j_[key].get<bool>();
  }
  std::string string(const char* key) const {
    const json& v = required(key);
    if (!v.is_string()) wrong_type(key, "a string");
    return v.get<std::string>();
  }

  // An integer or a list of integers (eos_token_id), empty when absent.
  std::vector<int64_t> integers(const char* key) const {
    if (!has(key)) return {};
    const json& v = j_[key];
    if (!v.is_array()) return {as_integer(v, key, "an integer or a list of integers")};
    std::vector<int64_t> out;
    for (const json& x : v) out.push_back(as_integer(x, key, "a list of integers"));
    return out;
  }

  // Sizes are bounded too, so that products of them downstream cannot overflow.
  int64_t positive(const char* key, int64_t v) const {
    constexpr int64_t kMax = int64_t(1) << 30;
    if (v <= 0 || v > kMax) {
      error("field '" + prefix_ + key + "' must be in 1.." + std::to_string(kMax) + ", got " +
            std::to_string(v));
    }
    return v;
  }
  double positive(const char* key, double v) const {
    if (!(v > 0)) error("field '" + prefix_ + key + "' must be positive, got " + json(v).dump());
    return v;
  }

 private:
  [[noreturn]] void wrong_type(const char* key, const char* expected,
                               const json* v = nullptr) const {
    const json& got = v ? *v : j_[key];
    // Scalars are quoted; containers only named, as they may be large.
    std::string shown;
    if (!got.is_structured()) shown = got.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shown.size() > 80) shown.clear();
    error("field '" + prefix_ + key + "' must be " + expected + ", got " + got.type_name() +
          (shown.empty() ? "" : " " + shown));
  }
  int64_t as_integer(const json& v, const char* key, const char* expected = "an integer") const {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX)) {
      wrong_type(key, expected, &v);
    }
    return v.get<int64_t>();
  }
  double as_number(const json& v, const char* key) const {
    if (!v.is_number()) wrong_type(key, "a number", &v);
    return v.get<double>();
  }

  const json& j_;
  std::string origin_, prefix_;
};

// rope_scaling, or the scaling keys of rope_parameters: none/"default", or "llama3".
// rope_parameters may omit the type (plain RoPE); a rope_scaling object without one is broken.
std::optional<RopeScaling> parse_rope_scaling(const json& s, const std::string& origin,
                                              const std::string& field, bool type_optional) {
  Fields f(s, origin, field + ".");
  if (!s.is_object()) {
    f.error("field '" + field + "' must be null or an object, got " + s.type_name());
  }
  std::string type = f.has("rope_type") ? f.string("rope_type")
                     : f.has("type")    ? f.string("type")
                                        : "";
  if (type.empty() && !type_optional) f.error("field '" + field + "' has no 'rope_type'");
  if (type.empty() || type == "default") return std::nullopt;
  if (type != "llama3") {
    f.error("unsupported " + field + " type '" + type + "' (supported: none/default, llama3)");
  }
  RopeScaling r;
  r.factor = f.positive("factor", f.number("factor"));
  r.low_freq_factor = f.positive("low_freq_factor", f.number("low_freq_factor"));
  r.high_freq_factor = f.positive("high_freq_factor", f.number("high_freq_factor"));
  r.original_max_position_embeddings =
      f.positive("original_max_position_embeddings", f.integer("original_max_position_embeddings"));
  // The smoothing between the two bands divides by their difference.
  if (!(r.high_freq_factor > r.low_freq_factor)) {
    f.error("field '" + field + ".high_freq_factor' must exceed '" + field + ".low_freq_factor'");
  }
  return r;
}

DType parse_torch_dtype(const Fields& f, const char* key) {
  std::string s = f.string(key);
  if (s == "bfloat16") return DType::BF16;
  if (s == "float32") return DType::F32;
  if (s == "float16") return DType::F16;
  f.error("unsupported " + std::string(key) + " '" + s +
          "' (supported: float32, bfloat16, float16)");
}

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::BF16:
      return "bfloat16";
    case DType::F16:
      return "float16";
    default:
      return "float32";
  }
}

}  // namespace

bool Config::is_sparse_layer(int64_t l) const {
  return num_experts > 0 && decoder_sparse_step > 0 &&
         std::find(mlp_only_layers.begin(), mlp_only_layers.end(), l) == mlp_only_layers.end() &&
         (l + 1) % decoder_sparse_step == 0;
}

Config parse_config(const nlohmann::json& j, const std::string& origin,
                    std::span<const ConfigRules* const> families) {
  Fields f(j, origin);
  if (!j.is_object()) f.error(std::string("expected a JSON object, got ") + j.type_name());
  Config c;
  c.raw = j;
  c.model_type = f.string("model_type");
  std::string names;
  for (const ConfigRules* r : families) {
    if (r->model_type == c.model_type) c.rules = r;
    names += (names.empty() ? "" : ", ") + std::string(r->model_type);
  }
  if (!c.rules) f.error("unsupported model_type '" + c.model_type + "' (supported: " + names + ")");
  const ConfigRules& rules = *c.rules;

  c.vocab_size = f.positive("vocab_size", f.integer("vocab_size"));
  c.hidden_size = f.positive("hidden_size", f.integer("hidden_size"));
  c.intermediate_size = f.positive("intermediate_size", f.integer("intermediate_size"));
  c.num_hidden_layers = f.positive("num_hidden_layers", f.integer("num_hidden_layers"));
  c.num_attention_heads = f.positive("num_attention_heads", f.integer("num_attention_heads"));
  c.num_key_value_heads =
      f.positive("num_key_value_heads", f.integer("num_key_value_heads", c.num_attention_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.error("num_attention_heads (" + std::to_string(c.num_attention_heads) +
            ") must be a multiple of num_key_value_heads (" +
            std::to_string(c.num_key_value_heads) + ")");
  }
  // A family may default head_dim (HF's Qwen3Config: 128); the others derive it as D / N.
  if (!f.has("head_dim") && !rules.head_dim && c.hidden_size % c.num_attention_heads != 0) {
    f.error("hidden_size (" + std::to_string(c.hidden_size) +
            ") must be a multiple of num_attention_heads when head_dim is absent");
  }
  c.head_dim = f.positive(
      "head_dim", f.integer("head_dim", rules.head_dim ? rules.head_dim
                                                       : c.hidden_size / c.num_attention_heads));
  if (c.head_dim % 2 != 0) {
    f.error("head_dim must be even for rotary embeddings, got " + std::to_string(c.head_dim));
  }
  c.max_position_embeddings =
      f.positive("max_position_embeddings", f.integer("max_position_embeddings", 2048));
  c.rms_norm_eps = f.positive("rms_norm_eps", f.number("rms_norm_eps", rules.rms_norm_eps));
  c.attention_dropout = f.number("attention_dropout", 0.0);
  if (c.attention_dropout < 0 || c.attention_dropout >= 1)
    f.error("attention_dropout must be in [0, 1), got " + std::to_string(c.attention_dropout));

  // Classic spelling: rope_theta + rope_scaling; transformers v5: rope_parameters holds both.
  c.rope_theta = f.number("rope_theta", rules.rope_theta);
  if (f.has("rope_parameters")) {
    const json& rp = j["rope_parameters"];
    c.rope_scaling = parse_rope_scaling(rp, origin, "rope_parameters", true);
    c.rope_theta = Fields(rp, origin, "rope_parameters.").number("rope_theta", c.rope_theta);
  } else if (f.has("rope_scaling")) {
    c.rope_scaling = parse_rope_scaling(j["rope_scaling"], origin, "rope_scaling", false);
  }
  f.positive("rope_theta", c.rope_theta);

  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  if (f.has("bos_token_id")) c.bos_token_id = f.integer("bos_token_id");
  c.eos_token_ids = f.integers("eos_token_id");
  // Newer transformers write "dtype"; older ones "torch_dtype".
  if (f.has("dtype")) {
    c.torch_dtype = parse_torch_dtype(f, "dtype");
  } else if (f.has("torch_dtype")) {
    c.torch_dtype = parse_torch_dtype(f, "torch_dtype");
  }
  if (f.has("quantization_config")) {
    const json& q = j["quantization_config"];
    const json method = q.is_object() ? q.value("quant_method", json()) : json();
    if (method != "purelm")
      f.error("quantized with " + method.dump() +
              ": purelm reads its own quantized checkpoints only (quant_method \"purelm\", "
              "written by purelm quantize)");
    const json format = q.value("format", json());
    if (format == "q8" || format == "q4")
      c.quant = format == "q8" ? DType::Q8 : DType::Q4;
    else
      f.error("field 'quantization_config.format' must be \"q8\" or \"q4\", got " + format.dump());
  }

  if (rules.experts) {
    c.num_experts = f.integer("num_experts");
    if (c.num_experts < 0) f.error("field 'num_experts' must not be negative");
    c.num_experts_per_tok = f.positive("num_experts_per_tok", f.integer("num_experts_per_tok"));
    c.moe_intermediate_size =
        f.positive("moe_intermediate_size", f.integer("moe_intermediate_size"));
    if (c.num_experts > 0 && c.num_experts_per_tok > c.num_experts) {
      f.error("num_experts_per_tok (" + std::to_string(c.num_experts_per_tok) +
              ") exceeds num_experts (" + std::to_string(c.num_experts) + ")");
    }
    c.norm_topk_prob = f.boolean("norm_topk_prob", false);
    c.decoder_sparse_step = f.positive("decoder_sparse_step", f.integer("decoder_sparse_step", 1));
    if (f.has("mlp_only_layers")) {
      if (!j["mlp_only_layers"].is_array()) {
        f.error(std::string("field 'mlp_only_layers' must be a list of integers, got ") +
                j["mlp_only_layers"].type_name());
      }
      c.mlp_only_layers = f.integers("mlp_only_layers");
    }
    for (int64_t l : c.mlp_only_layers) {
      if (l < 0 || l >= c.num_hidden_layers) {
        f.error("mlp_only_layers names layer " + std::to_string(l) + ", but there are " +
                std::to_string(c.num_hidden_layers) + " layers");
      }
    }
  }
  return c;
}

Config load_config(const std::string& path, std::span<const ConfigRules* const> families) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fail("config.json (", path, "): is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    fail("config.json (", path, "): cannot open: ", std::strerror(err));
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    std::string msg = e.what();  // drop nlohmann's "[json.exception...] " tag, keep the position
    size_t p = msg.find("] ");
    fail("config.json (", path,
         "): not valid JSON: ", p == std::string::npos ? msg : msg.substr(p + 2));
  }
  return parse_config(j, path, families);
}

nlohmann::json config_to_json(const Config& c) {
  json j = c.raw.is_object() ? c.raw : json::object();
  check(c.rules != nullptr, "config_to_json: the config of '", c.model_type,
        "' was not parsed (parse_config sets its family's rules)");
  if (!j.contains("architectures")) j["architectures"] = {c.rules->architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["attention_dropout"] = c.attention_dropout;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  const bool eos_list =
      c.eos_token_ids.size() != 1 || (j.contains("eos_token_id") && j["eos_token_id"].is_array());
  j["eos_token_id"] = c.eos_token_ids.empty() ? json(nullptr)
                      : eos_list              ? json(c.eos_token_ids)
                                              : json(c.eos_token_ids[0]);
  j[j.contains("dtype") ? "dtype" : "torch_dtype"] = torch_dtype_name(c.torch_dtype);
  if (c.quant)
    j["quantization_config"] = {{"quant_method", "purelm"},
                                {"format", *c.quant == DType::Q8 ? "q8" : "q4"},
                                {"block_size", 32},
                                {"output_projection", "q8"}};
  else
    j.erase("quantization_config");

  json scaling = nullptr;
  if (c.rope_scaling) {
    const RopeScaling& r = *c.rope_scaling;
    scaling = {{"rope_type", "llama3"},
               {"factor", r.factor},
               {"low_freq_factor", r.low_freq_factor},
               {"high_freq_factor", r.high_freq_factor},
               {"original_max_position_embeddings", r.original_max_position_embeddings}};
  }
  // Write back in the spelling the file used, since parse_config prefers rope_parameters.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    json& rp = j["rope_parameters"];
    for (const char* k : {"type", "factor", "low_freq_factor", "high_freq_factor",
                          "original_max_position_embeddings"}) {
      rp.erase(k);
    }
    rp.update(scaling.is_null() ? json{{"rope_type", "default"}} : scaling);
    rp["rope_theta"] = c.rope_theta;
    if (j.contains("rope_theta")) j["rope_theta"] = c.rope_theta;
  } else {
    j["rope_theta"] = c.rope_theta;
    j["rope_scaling"] = scaling;
  }

  if (c.rules->experts) {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
  }
  return j;
}

}  // namespace purelm
