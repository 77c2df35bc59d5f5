// io/config and io/hf_folder: config.json and the HuggingFace cache lookup.
#include "purelm/io/config.h"

#include "io_testing.h"
#include "purelm/io/hf_folder.h"
#include "purelm/models/family.h"

namespace purelm {
namespace {

using namespace io_testing;

// ---------------------------------------------------------------------------------------------
// config.json.

Config fixture_config(const std::string& name) {
  return load_config((kShared / "fixtures" / name / "config.json").string());
}

TEST(Config, Fixtures) {
  Config q = fixture_config("qwen3-tiny");
  EXPECT_EQ(q.model_type, "qwen3");
  EXPECT_EQ(q.vocab_size, 384);
  EXPECT_EQ(q.hidden_size, 64);
  EXPECT_EQ(q.intermediate_size, 160);
  EXPECT_EQ(q.num_hidden_layers, 3);
  EXPECT_EQ(q.num_attention_heads, 4);
  EXPECT_EQ(q.num_key_value_heads, 2);
  EXPECT_EQ(q.head_dim, 32);
  EXPECT_EQ(q.max_position_embeddings, 40960);
  EXPECT_EQ(q.rms_norm_eps, 1e-6);
  EXPECT_EQ(q.rope_theta, 1e6);
  EXPECT_FALSE(q.rope_scaling);
  EXPECT_FALSE(q.tie_word_embeddings);
  EXPECT_EQ(q.bos_token_id, 381);
  EXPECT_EQ(q.eos_token_ids, (std::vector<int64_t>{383}));
  EXPECT_EQ(q.torch_dtype, DType::BF16);
  EXPECT_FALSE(q.is_sparse_layer(0));
  EXPECT_EQ(q.raw["transformers_version"], "4.51.0");

  Config t = fixture_config("qwen3-tiny-tied");
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_EQ(t.torch_dtype, DType::F32);
  EXPECT_EQ(t.head_dim, 16);

  Config l = fixture_config("llama3-tiny");
  EXPECT_EQ(l.model_type, "llama");
  EXPECT_EQ(l.rope_theta, 500000);
  EXPECT_EQ(l.rms_norm_eps, 1e-5);
  ASSERT_TRUE(l.rope_scaling);
  EXPECT_EQ(l.rope_scaling->factor, 8);
  EXPECT_EQ(l.rope_scaling->low_freq_factor, 1);
  EXPECT_EQ(l.rope_scaling->high_freq_factor, 4);
  EXPECT_EQ(l.rope_scaling->original_max_position_embeddings, 256);
  EXPECT_EQ(l.eos_token_ids, (std::vector<int64_t>{381, 383}));

  Config o = fixture_config("olmo2-tiny");
  EXPECT_EQ(o.head_dim, 16);  // D / N: OLMo 2 configs have no head_dim
  EXPECT_FALSE(o.bos_token_id);
  EXPECT_EQ(o.eos_token_ids, (std::vector<int64_t>{350}));
  EXPECT_EQ(o.rope_theta, 500000);

  Config m = fixture_config("qwen3moe-tiny");
  EXPECT_EQ(m.num_experts, 4);
  EXPECT_EQ(m.num_experts_per_tok, 2);
  EXPECT_EQ(m.moe_intermediate_size, 64);
  EXPECT_TRUE(m.norm_topk_prob);
  for (int l = 0; l < 3; ++l) EXPECT_TRUE(m.is_sparse_layer(l));

  Config x = fixture_config("qwen3moe-tiny-mixed");
  EXPECT_EQ(x.moe_intermediate_size, 48);
  EXPECT_FALSE(x.norm_topk_prob);
  EXPECT_EQ(x.decoder_sparse_step, 2);
  EXPECT_EQ(x.mlp_only_layers, (std::vector<int64_t>{1}));
  for (int l = 0; l < 4; ++l) EXPECT_EQ(x.is_sparse_layer(l), l == 3) << l;

  Config s = load_config((kShared / "models" / "stories260K" / "config.json").string());
  EXPECT_EQ(s.model_type, "llama");
  EXPECT_EQ(s.head_dim, 8);
  EXPECT_EQ(s.num_key_value_heads, 4);
  EXPECT_EQ(s.rope_theta, 10000);
  EXPECT_TRUE(s.tie_word_embeddings);
}

json minimal(const std::string& type) {
  json j = {{"model_type", type},       {"vocab_size", 100},      {"hidden_size", 64},
            {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}};
  if (type == "qwen3_moe") {
    j.update({{"num_experts", 8}, {"num_experts_per_tok", 2}, {"moe_intermediate_size", 32}});
  }
  return j;
}

std::string config_error(const json& j) {
  return error_of([&] { parse_config(j, "cfg"); });
}

TEST(Config, Defaults) {
  Config q = parse_config(minimal("qwen3"), "cfg");
  EXPECT_EQ(q.head_dim, 128);  // HF Qwen3Config default, not D / N
  EXPECT_EQ(q.num_key_value_heads, 4);
  EXPECT_EQ(q.rope_theta, 1e6);
  EXPECT_EQ(q.max_position_embeddings, 2048);
  EXPECT_EQ(q.torch_dtype, DType::F32);
  EXPECT_FALSE(q.tie_word_embeddings);
  EXPECT_FALSE(q.bos_token_id);
  EXPECT_TRUE(q.eos_token_ids.empty());
  EXPECT_EQ(q.attention_dropout, 0.0);

  json lj = minimal("llama");
  lj["head_dim"] = nullptr;
  Config l = parse_config(lj, "cfg");
  EXPECT_EQ(l.head_dim, 16);
  EXPECT_EQ(l.rope_theta, 10000);

  Config m = parse_config(minimal("qwen3_moe"), "cfg");
  EXPECT_FALSE(m.norm_topk_prob);
  EXPECT_EQ(m.decoder_sparse_step, 1);
  EXPECT_TRUE(m.mlp_only_layers.empty());
  EXPECT_TRUE(m.is_sparse_layer(0) && m.is_sparse_layer(1));

  json d = minimal("olmo2");
  d["dtype"] = "float16";  // newer spelling wins over torch_dtype
  d["torch_dtype"] = "float32";
  EXPECT_EQ(parse_config(d, "cfg").torch_dtype, DType::F16);
}

TEST(Config, RopeSpellings) {
  json j = minimal("llama");
  j["rope_theta"] = 1;
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0},
                          {"factor", 32},          {"low_freq_factor", 1},
                          {"high_freq_factor", 4}, {"original_max_position_embeddings", 8192}};
  Config c = parse_config(j, "cfg");
  EXPECT_EQ(c.rope_theta, 500000);
  ASSERT_TRUE(c.rope_scaling);
  EXPECT_EQ(c.rope_scaling->factor, 32);

  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 250000}};
  c = parse_config(j, "cfg");
  EXPECT_EQ(c.rope_theta, 250000);
  EXPECT_FALSE(c.rope_scaling);

  json legacy = minimal("llama");  // pre-4.45 key "type"
  legacy["rope_scaling"] = {{"type", "llama3"},
                            {"factor", 8},
                            {"low_freq_factor", 1},
                            {"high_freq_factor", 4},
                            {"original_max_position_embeddings", 8192}};
  EXPECT_EQ(parse_config(legacy, "cfg").rope_scaling->factor, 8);
  legacy["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_FALSE(parse_config(legacy, "cfg").rope_scaling);

  legacy["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
  EXPECT_EQ(config_error(legacy),
            "config.json (cfg): unsupported rope_scaling type 'yarn' (supported: none/default, "
            "llama3)");
  legacy["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}};
  EXPECT_HAS(config_error(legacy), "missing required field 'rope_scaling.low_freq_factor'");
}

TEST(Config, Errors) {
  json j = minimal("llama");
  j.erase("hidden_size");
  EXPECT_EQ(config_error(j), "config.json (cfg): missing required field 'hidden_size'");
  EXPECT_EQ(config_error(minimal("gpt2")),
            "config.json (cfg): unsupported model_type 'gpt2' (supported: qwen3, llama, olmo2, "
            "qwen3_moe)");

  auto with = [](json j, const std::string& key, json v) {
    j[key] = v;
    return config_error(j);
  };
  std::string msg = with(minimal("llama"), "hidden_size", "64");
  EXPECT_HAS(msg, "field 'hidden_size' must be an integer, got string \"64\"");
  EXPECT_HAS(with(minimal("llama"), "rope_theta", "big"), "field 'rope_theta' must be a number");
  EXPECT_HAS(with(minimal("llama"), "tie_word_embeddings", 1), "must be a boolean");
  EXPECT_HAS(with(minimal("llama"), "eos_token_id", "x"), "an integer or a list of integers");
  EXPECT_HAS(with(minimal("llama"), "eos_token_id", {1, "x"}), "a list of integers");
  EXPECT_HAS(with(minimal("llama"), "rope_scaling", 3), "must be null or an object");
  EXPECT_HAS(with(minimal("llama"), "torch_dtype", "float64"), "unsupported torch_dtype 'float64'");
  EXPECT_HAS(with(minimal("llama"), "vocab_size", 0), "'vocab_size' must be in 1..");
  EXPECT_HAS(with(minimal("llama"), "hidden_size", int64_t(1) << 40), "'hidden_size' must be in");
  EXPECT_HAS(with(minimal("llama"), "rms_norm_eps", -1), "'rms_norm_eps' must be positive");
  EXPECT_HAS(with(minimal("llama"), "num_key_value_heads", 3), "multiple of num_key_value_heads");
  EXPECT_HAS(with(minimal("qwen3"), "head_dim", 15), "head_dim must be even");
  EXPECT_HAS(with(minimal("qwen3"), "attention_dropout", 1.0),
             "attention_dropout must be in [0, 1)");
  EXPECT_HAS(with(minimal("llama"), "num_attention_heads", 3), "multiple of num_attention_heads");
  EXPECT_HAS(with(minimal("qwen3_moe"), "num_experts_per_tok", 9), "exceeds num_experts");
  EXPECT_HAS(with(minimal("qwen3_moe"), "mlp_only_layers", 1), "'mlp_only_layers' must be a list");
  EXPECT_HAS(with(minimal("qwen3_moe"), "mlp_only_layers", {5}), "names layer 5");
  json moe = minimal("qwen3_moe");
  moe.erase("num_experts");
  EXPECT_HAS(config_error(moe), "missing required field 'num_experts'");
  EXPECT_HAS(config_error(json::array()), "expected a JSON object, got array");
}

TEST(Config, Files) {
  TempDir tmp;
  const fs::path p = tmp / "config.json";
  write_file(p, "{\"model_type\": \"qwen3\",\n  oops}");
  std::string msg = error_of([&] { load_config(p.string()); });
  EXPECT_HAS(msg, "config.json (" + p.string() + "): not valid JSON");
  EXPECT_HAS(msg, "line 2, column 3");
  EXPECT_HAS(error_of([&] { load_config((tmp / "none.json").string()); }),
             "No such file or directory");
  EXPECT_HAS(error_of([&] { load_config(tmp.path().string()); }), "is a directory");
}

TEST(Config, RoundTrips) {
  for (const auto& dir : fixture_dirs()) {
    Config a = load_config((dir / "config.json").string());
    json j = config_to_json(a);
    EXPECT_EQ(j["architectures"], a.raw["architectures"]);
    Config b = parse_config(j, "round trip");
    EXPECT_EQ(config_to_json(b), j) << dir;
    EXPECT_EQ(b.head_dim, a.head_dim);
    EXPECT_EQ(b.eos_token_ids, a.eos_token_ids);
    EXPECT_EQ(b.rope_scaling.has_value(), a.rope_scaling.has_value());
  }
  // Changed fields are written back, in the spelling the file used.
  Config c = parse_config(minimal("llama"), "cfg");
  c.rope_theta = 123;
  c.rope_scaling = RopeScaling{};
  c.rope_scaling->factor = 16;
  c.eos_token_ids = {7};
  c.torch_dtype = DType::BF16;
  Config d = parse_config(config_to_json(c), "cfg");
  EXPECT_EQ(d.rope_theta, 123);
  EXPECT_EQ(d.rope_scaling->factor, 16);
  EXPECT_EQ(d.eos_token_ids, (std::vector<int64_t>{7}));
  EXPECT_EQ(d.torch_dtype, DType::BF16);

  // A config made in code (no file behind it) gets what HF needs to load it.
  Config fresh = parse_config(minimal("qwen3"), "cfg");
  fresh.raw = nullptr;
  json k = config_to_json(fresh);
  EXPECT_EQ(k["architectures"], json::array({"Qwen3ForCausalLM"}));
  EXPECT_EQ(k["torch_dtype"], "float32");
  EXPECT_EQ(parse_config(k, "cfg").head_dim, 128);

  json v5 = minimal("llama");
  v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000}};
  c = parse_config(v5, "cfg");
  c.rope_theta = 77;
  json out = config_to_json(c);
  EXPECT_EQ(out["rope_parameters"]["rope_theta"], 77);
  EXPECT_EQ(parse_config(out, "cfg").rope_theta, 77);
}

// ---------------------------------------------------------------------------------------------
// Finding a model: folder or HuggingFace cache.

class HfCache : public testing::Test {
 protected:
  static constexpr const char* kVars[] = {"HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                                          "XDG_CACHE_HOME", "HOME"};
  void SetUp() override {
    for (const char* v : kVars) {
      if (const char* s = std::getenv(v)) saved_[v] = s;
      unsetenv(v);
    }
    setenv("HF_HOME", tmp.path().c_str(), 1);
  }
  void TearDown() override {
    for (const char* v : kVars) {
      unsetenv(v);
      if (saved_.count(v)) setenv(v, saved_[v].c_str(), 1);
    }
  }
  fs::path make_snapshot(const fs::path& hub, const std::string& rev, bool ref = true) {
    fs::path repo = hub / "models--Org--Name";
    fs::create_directories(repo / "snapshots" / rev);
    if (ref) {
      fs::create_directories(repo / "refs");
      write_file(repo / "refs" / "main", rev + "\n");
    }
    return repo / "snapshots" / rev;
  }
  TempDir tmp;
  std::map<std::string, std::string> saved_;
};

TEST_F(HfCache, FolderIsReturnedAsIs) {
  EXPECT_EQ(resolve_model_dir(tmp.path().string()), tmp.path().string());
}

TEST_F(HfCache, ResolvesRefsMain) {
  fs::path snap = make_snapshot(tmp / "hub", "abc123");
  make_snapshot(tmp / "hub", "older", false);
  EXPECT_EQ(resolve_model_dir("Org/Name"), snap.string());
}

TEST_F(HfCache, HubCacheOverridesAndHomeFallback) {
  fs::path snap = make_snapshot(tmp / "elsewhere", "r1");
  setenv("HF_HUB_CACHE", (tmp / "elsewhere").c_str(), 1);
  EXPECT_EQ(resolve_model_dir("Org/Name"), snap.string());
  unsetenv("HF_HUB_CACHE");
  unsetenv("HF_HOME");
  setenv("HOME", tmp.path().c_str(), 1);
  fs::path home_snap = make_snapshot(tmp / ".cache" / "huggingface" / "hub", "r2");
  EXPECT_EQ(resolve_model_dir("Org/Name"), home_snap.string());
  setenv("XDG_CACHE_HOME", (tmp / "xdg").c_str(), 1);
  fs::path xdg_snap = make_snapshot(tmp / "xdg" / "huggingface" / "hub", "r3");
  EXPECT_EQ(resolve_model_dir("Org/Name"), xdg_snap.string());
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  EXPECT_HAS(error_of([] { resolve_model_dir("Org/Name"); }), "cannot find the HuggingFace cache");
}

TEST_F(HfCache, SingleSnapshotWithoutRef) {
  fs::path snap = make_snapshot(tmp / "hub", "only", false);
  EXPECT_EQ(resolve_model_dir("Org/Name"), snap.string());
  make_snapshot(tmp / "hub", "second", false);
  EXPECT_HAS(error_of([] { resolve_model_dir("Org/Name"); }), "2 snapshots and no refs/main");
}

TEST_F(HfCache, NotFound) {
  EXPECT_EQ(error_of([] { resolve_model_dir("Qwen/Qwen3-0.6B"); }),
            "model 'Qwen/Qwen3-0.6B' not found: not a folder, and not in the HuggingFace cache "
            "(looked for " +
                (tmp / "hub" / "models--Qwen--Qwen3-0.6B" / "snapshots" / "...").string() +
                "). Download it with `purelm download Qwen/Qwen3-0.6B` or pass a folder.");
  make_snapshot(tmp / "hub", "abc");
  fs::remove(tmp / "hub" / "models--Org--Name" / "snapshots" / "abc");
  EXPECT_HAS(error_of([] { resolve_model_dir("Org/Name"); }),
             (tmp / "hub" / "models--Org--Name" / "snapshots" / "abc").string());
  EXPECT_HAS(error_of([] { resolve_model_dir("./no/such"); }), "no such folder");
  EXPECT_HAS(error_of([] { resolve_model_dir("qwen3:tiny"); }), "no such folder");
  write_file(tmp / "file", "x");
  EXPECT_HAS(error_of([&] { resolve_model_dir((tmp / "file").string()); }), "is a file");
}

}  // namespace
}  // namespace purelm
