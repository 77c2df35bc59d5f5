// io/: safetensors reading (fixtures, shards, hostile files), writing, config.json and the
// HuggingFace cache lookup.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "purelm/io/config.h"
#include "purelm/io/hf_folder.h"
#include "purelm/io/safetensors.h"

namespace purelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kShared = PURELM_SHARED_DIR;

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        fs::temp_directory_path() / ("purelm_io_" + std::string(info ? info->name() : "x") + "_" +
                                     std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// A safetensors file from a header text and `data` bytes; `n` overrides the length field.
std::string st_bytes(const std::string& header, size_t data, std::optional<uint64_t> n = {}) {
  uint64_t len = n ? *n : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(len >> (8 * i));
  return out + header + std::string(data, '\x01');
}

// The message of the purelm::Error that f throws; any other outcome fails the test.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a purelm::Error";
  return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: every weight the config implies, with its shape and dtype, and nothing else.

std::map<std::string, Shape> expected_weights(const Config& c) {
  const int64_t V = c.vocab_size, D = c.hidden_size, F = c.intermediate_size, H = c.head_dim,
                N = c.num_attention_heads, K = c.num_key_value_heads;
  std::map<std::string, Shape> w{{"model.embed_tokens.weight", {V, D}}, {"model.norm.weight", {D}}};
  if (!c.tie_word_embeddings) w["lm_head.weight"] = {V, D};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w[p + "self_attn.q_proj.weight"] = {N * H, D};
    w[p + "self_attn.k_proj.weight"] = {K * H, D};
    w[p + "self_attn.v_proj.weight"] = {K * H, D};
    w[p + "self_attn.o_proj.weight"] = {D, N * H};
    if (c.model_type == "olmo2") {
      w[p + "self_attn.q_norm.weight"] = {N * H};
      w[p + "self_attn.k_norm.weight"] = {K * H};
      w[p + "post_feedforward_layernorm.weight"] = {D};
    } else {
      w[p + "input_layernorm.weight"] = {D};
      if (c.model_type != "llama") {
        w[p + "self_attn.q_norm.weight"] = {H};
        w[p + "self_attn.k_norm.weight"] = {H};
      }
    }
    w[p + "post_attention_layernorm.weight"] = {D};
    if (c.is_sparse_layer(l)) {
      const int64_t M = c.moe_intermediate_size;
      w[p + "mlp.gate.weight"] = {c.num_experts, D};
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
        w[q + "gate_proj.weight"] = {M, D};
        w[q + "up_proj.weight"] = {M, D};
        w[q + "down_proj.weight"] = {D, M};
      }
    } else {
      w[p + "mlp.gate_proj.weight"] = {F, D};
      w[p + "mlp.up_proj.weight"] = {F, D};
      w[p + "mlp.down_proj.weight"] = {D, F};
    }
  }
  return w;
}

void check_checkpoint(const fs::path& dir) {
  SCOPED_TRACE(dir.string());
  Config c = load_config((dir / "config.json").string());
  TensorStore store = TensorStore::open_dir(dir.string());
  auto expected = expected_weights(c);
  std::vector<std::string> names;
  for (const auto& [name, shape] : expected) names.push_back(name);
  EXPECT_EQ(store.names(), names);
  for (const auto& [name, shape] : expected) {
    Tensor t = store.get(name);
    EXPECT_EQ(t.shape(), shape) << name;
    EXPECT_EQ(t.dtype(), c.torch_dtype) << name;
  }
}

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(kShared / "fixtures")) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(Safetensors, ReadsEveryFixture) {
  auto dirs = fixture_dirs();
  ASSERT_EQ(dirs.size(), 7u);
  for (const auto& dir : dirs) {
    check_checkpoint(dir);
    Config c = load_config((dir / "config.json").string());
    auto golden = SafetensorsFile::open((dir / "golden.safetensors").string());
    Tensor ids = golden->get("input_ids");
    ASSERT_EQ(ids.dtype(), DType::I32);
    ASSERT_EQ(ids.rank(), 2);
    EXPECT_EQ(golden->get("logits").shape(), (Shape{ids.dim(0), ids.dim(1), c.vocab_size}));
    for (const auto& [name, shape] : expected_weights(c)) {
      EXPECT_EQ(golden->get("grad." + name).shape(), shape) << dir << " " << name;
    }
    EXPECT_EQ(golden->metadata().count("format"), 1u);
  }
  check_checkpoint(kShared / "models" / "stories260K");
}

TEST(Safetensors, Qwen3TinyValues) {
  TensorStore s = TensorStore::open_dir((kShared / "fixtures" / "qwen3-tiny").string());
  Tensor e = s.get("model.embed_tokens.weight");
  EXPECT_EQ(e.shape(), (Shape{384, 64}));
  EXPECT_EQ(e.dtype(), DType::BF16);
  float sum = 0;
  for (float v : e.to_vector()) sum += std::abs(v);
  EXPECT_GT(sum, 0);  // real data, not zeros
  std::string msg = error_of([&] { s.get("nope"); });
  EXPECT_HAS(msg, "tensor 'nope' not found in folder");
  EXPECT_HAS(msg, "qwen3-tiny");
}

TEST(Safetensors, ShardedMatchesSingleFile) {
  auto single = TensorStore::open_dir((kShared / "fixtures" / "qwen3-tiny").string());
  auto sharded = TensorStore::open_dir((kShared / "fixtures" / "qwen3-tiny-sharded").string());
  ASSERT_EQ(single.names(), sharded.names());
  for (const auto& name : single.names()) {
    EXPECT_TRUE(same_bytes(single.get(name), sharded.get(name))) << name;
  }
}

TEST(Safetensors, BorrowedTensorOutlivesFile) {
  Tensor t =
      SafetensorsFile::open((kShared / "fixtures" / "qwen3-tiny" / "model.safetensors").string())
          ->get("model.norm.weight");
  EXPECT_EQ(t.to_vector().size(), 64u);  // the mapping is still alive
}

// ---------------------------------------------------------------------------------------------
// Writing.

TEST(Safetensors, RoundTripsEveryDType) {
  TempDir tmp;
  std::vector<std::pair<std::string, Tensor>> ts;
  auto add = [&](const std::string& name, DType d, Shape s) {
    Tensor t = Tensor::empty(s, d);
    auto* b = static_cast<unsigned char*>(t.raw());
    for (size_t i = 0; i < t.nbytes(); ++i) b[i] = uint8_t(i * 7 + name.size());
    ts.emplace_back(name, t);
  };
  add("z.f32", DType::F32, {3, 5});
  add("a.bf16", DType::BF16, {7});  // odd byte count: later tensors start unaligned
  add("m.f16", DType::F16, {2, 3});
  add("b.i32", DType::I32, {4});
  add("c.i64", DType::I64, {2, 2});
  add("empty", DType::F32, {0, 3});
  add("scalar", DType::F32, {});
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"step", "12"}};
  const fs::path p = tmp / "out.safetensors";
  save_safetensors(p.string(), ts, meta);

  auto f = SafetensorsFile::open(p.string());
  EXPECT_EQ(f->metadata(), meta);
  EXPECT_EQ(f->names().size(), ts.size());
  for (const auto& [name, t] : ts) EXPECT_TRUE(same_bytes(f->get(name), t)) << name;
  // Exactly one file: the temporary was renamed away.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);

  // The layout the reference readers demand: padded header, entries in the given order, data
  // contiguous from 0 and filling the file.
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  size_t pos = 0;
  for (const auto& [name, t] : ts) {
    size_t at = header.find("\"" + name + "\"");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(at, pos);
    pos = at;
  }
  json h = json::parse(header);
  uint64_t end = 0;
  for (const auto& [name, t] : ts) {
    EXPECT_EQ(h[name]["data_offsets"][0].get<uint64_t>(), end);
    end = h[name]["data_offsets"][1].get<uint64_t>();
  }
  EXPECT_EQ(8 + n + end, bytes.size());
}

TEST(Safetensors, OverwritesAFileItIsReading) {
  TempDir tmp;
  const std::string p = (tmp / "w.safetensors").string();
  save_safetensors(p, {{"w", Tensor::from_f32({1, 2, 3}, {3})}});
  Tensor w = SafetensorsFile::open(p)->get("w");  // borrows the old file's mapping
  save_safetensors(p, {{"w", w}, {"v", Tensor::from_f32({4}, {1})}});
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->get("w").to_vector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(f->get("v").item(), 4.0f);
}

TEST(Safetensors, RejectsBadSaves) {
  TempDir tmp;
  const std::string p = (tmp / "x.safetensors").string();
  Tensor t = Tensor::zeros({2}, DType::F32);
  EXPECT_HAS(error_of([&] { save_safetensors(p, {{"a", t}, {"a", t}}); }), "used twice");
  EXPECT_HAS(error_of([&] { save_safetensors(p, {{"a", Tensor()}}); }), "undefined");
  EXPECT_HAS(error_of([&] { save_safetensors(p, {{"\xff", t}}); }), "x.safetensors");
  EXPECT_HAS(error_of([&] {
               save_safetensors((tmp / "no/such/dir.st").string(), {{"a", t}});
             }),
             "No such file or directory");
  EXPECT_FALSE(fs::exists(p));
}

TEST(Safetensors, UnalignedTensorIsCopied) {
  TempDir tmp;
  // A BF16 scalar then an F32 at data offset 2: not 4-byte aligned in the mapping.
  std::string header = R"({"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes = st_bytes(header, 0);
  float one = 1.5f;
  bytes += std::string("\0\0", 2) + std::string(reinterpret_cast<char*>(&one), 4);
  write_file(tmp / "u.safetensors", bytes);
  auto f = SafetensorsFile::open((tmp / "u.safetensors").string());
  EXPECT_EQ(f->get("b").item(), 1.5f);
}

// ---------------------------------------------------------------------------------------------
// Malformed files: each a clear purelm::Error naming the file (and tensor), never a crash.

struct BadFile {
  std::string name, bytes;
  std::vector<std::string> expect;  // substrings of the message
};

std::string entry(const std::string& name, const std::string& body) {
  return "\"" + name + "\":{" + body + "}";
}

// A file holding one tensor 'w' with the given header entry body.
std::string one(const std::string& body, size_t data) {
  return st_bytes("{" + entry("w", body) + "}", data);
}

std::vector<BadFile> bad_files() {
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const std::string big = "1099511627776";  // 2^40
  return {
      {"empty", "", {"0 bytes, shorter than"}},
      {"four_bytes", "abcd", {"4 bytes, shorter than"}},
      {"len_past_end", st_bytes("{}", 2, 100), {"header length 100 runs past the end"}},
      {"huge_len", st_bytes("{}", 2, uint64_t(1) << 40), {"exceeds the limit"}},
      {"not_json", st_bytes("{not json", 0), {"header is not valid JSON", "line 1"}},
      {"bad_utf8", st_bytes("{\"\xff\":1}", 0), {"header is not valid JSON"}},
      {"array", st_bytes("[1,2]", 0), {"header is a JSON array"}},
      {"deep", st_bytes(std::string(100000, '[') + std::string(100000, ']'), 0), {"JSON array"}},
      {"entry_not_object", st_bytes(R"({"w":[1]})", 0), {"tensor 'w'", "must be an object"}},
      {"no_offsets", one(R"("dtype":"F32","shape":[2])", 8), {"tensor 'w'", "'data_offsets'"}},
      {"no_dtype", one(R"("shape":[2],"data_offsets":[0,8])", 8), {"tensor 'w'", "'dtype'"}},
      {"dtype_type",
       one(R"("dtype":4,"shape":[],"data_offsets":[0,4])", 4),
       {"tensor 'w'", "dtype must be a string"}},
      {"shape_type",
       one(R"("dtype":"F32","shape":2,"data_offsets":[0,8])", 8),
       {"tensor 'w'", "shape must be an array"}},
      {"float_dim",
       one(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])", 8),
       {"tensor 'w'", "must be an integer"}},
      {"offsets_short",
       one(R"("dtype":"F32","shape":[2],"data_offsets":[0])", 8),
       {"tensor 'w'", "data_offsets must be [begin, end]"}},
      {"out_of_range",
       one(R"("dtype":"F32","shape":[250],"data_offsets":[0,1000])", 16),
       {"tensor 'w'", "beyond the data section"}},
      {"begin_gt_end",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[8,4])", 16),
       {"tensor 'w'", "begin 8 > end 4"}},
      {"overlap",
       st_bytes("{" + entry("a", ok) + "," +
                    entry("b", R"("dtype":"F32","shape":[2],"data_offsets":[4,12])") + "}",
                16),
       {"'a' and 'b' overlap"}},
      {"size_mismatch",
       one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])", 8),
       {"tensor 'w'", "needs 12 bytes but data_offsets span 8"}},
      {"negative_dim",
       one(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])", 8),
       {"tensor 'w'", "negative"}},
      {"negative_offset",
       one(R"("dtype":"F32","shape":[0],"data_offsets":[-1,0])", 8),
       {"tensor 'w'", "negative"}},
      {"duplicate",
       st_bytes("{" + entry("w", ok) + "," + entry("w", ok) + "}", 8),
       {"duplicate tensor name 'w'"}},
      {"duplicate_key", one(ok + R"(,"dtype":"F32")", 8), {"duplicate key 'dtype'"}},
      {"overflow",
       one(R"("dtype":"F32","data_offsets":[0,8],"shape":[)" + big + "," + big + "]", 8),
       {"tensor 'w'", "overflows"}},
      {"meta_not_object", st_bytes(R"({"__metadata__":[1]})", 0), {"__metadata__ must be"}},
      {"meta_value", st_bytes(R"({"__metadata__":{"k":1}})", 0), {"__metadata__ value of 'k'"}},
  };
}

TEST(Safetensors, RejectsMalformedFiles) {
  TempDir tmp;
  for (const auto& bad : bad_files()) {
    SCOPED_TRACE(bad.name);
    const fs::path p = tmp / (bad.name + ".safetensors");
    write_file(p, bad.bytes);
    std::string msg = error_of([&] { SafetensorsFile::open(p.string()); });
    EXPECT_HAS(msg, p.string());
    for (const auto& part : bad.expect) EXPECT_HAS(msg, part);
  }
}

// Every truncation and many single-byte corruptions of a valid file: an Error or a file whose
// tensors can all be read, never a crash (run under the sanitizers to mean it).
TEST(Safetensors, SurvivesCorruption) {
  TempDir tmp;
  const fs::path good = tmp / "good.safetensors";
  save_safetensors(good.string(), {{"a", Tensor::from_f32({1, 2, 3}, {3})},
                                   {"b", Tensor::from_i32({4, 5}, {1, 2})},
                                   {"c", Tensor::zeros({0}, DType::BF16)}});
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int count = 0;
  auto try_open = [&](const std::string& data) {
    // A new name each time: rewriting one file in place makes the file system flush.
    const fs::path bad = tmp / ("bad" + std::to_string(count++));
    write_file(bad, data);
    try {
      auto f = SafetensorsFile::open(bad.string());
      for (const auto& name : f->names()) f->get(name).clone();
    } catch (const Error&) {
    }
    fs::remove(bad);
  };
  for (size_t n = 0; n < bytes.size(); ++n) try_open(bytes.substr(0, n));
  for (size_t i = 0; i < bytes.size() - 20; ++i) {
    for (char c : {'\0', '"', '9', '-', '{', ']', ',', '\xff'}) {
      std::string mutated = bytes;
      mutated[i] = c;
      try_open(mutated);
    }
  }
}

TEST(Safetensors, UnknownDTypeMessage) {
  TempDir tmp;
  const fs::path p = tmp / "f8.safetensors";
  write_file(
      p,
      st_bytes("{" + entry("x", R"("dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2])") + "}", 2));
  EXPECT_EQ(error_of([&] { SafetensorsFile::open(p.string()); }),
            "tensor 'x' in file '" + p.string() +
                "': unsupported dtype 'F8_E4M3' (supported: F32, BF16, F16, I32, I64)");
}

TEST(Safetensors, ZeroSizeTensorsNeedNoBytes) {
  TempDir tmp;
  const fs::path p = tmp / "z.safetensors";
  write_file(p,
             st_bytes("{" + entry("a", R"("dtype":"F32","shape":[2],"data_offsets":[0,8])") + "," +
                          entry("e", R"("dtype":"I64","shape":[3,0],"data_offsets":[4,4])") + "}",
                      8));
  auto f = SafetensorsFile::open(p.string());
  EXPECT_EQ(f->get("e").shape(), (Shape{3, 0}));
  EXPECT_EQ(f->get("e").numel(), 0);
}

TEST(Safetensors, MissingPaths) {
  TempDir tmp;
  std::string missing = (tmp / "nope.safetensors").string();
  EXPECT_EQ(error_of([&] { SafetensorsFile::open(missing); }),
            "cannot open '" + missing + "': No such file or directory");
  EXPECT_HAS(error_of([&] { SafetensorsFile::open(tmp.path().string()); }), "Is a directory");
  EXPECT_HAS(error_of([&] { TensorStore::open_dir(tmp.path().string()); }),
             "no model.safetensors or model.safetensors.index.json in '" + tmp.path().string());
  EXPECT_HAS(error_of([&] { TensorStore::open_dir(missing); }), "no such directory");
  EXPECT_HAS(error_of([&] { TensorStore::open_file(missing); }), "No such file or directory");
}

// ---------------------------------------------------------------------------------------------
// Sharded folders.

class ShardedDir : public testing::Test {
 protected:
  void SetUp() override {
    Tensor t = Tensor::zeros({2}, DType::F32);
    save_safetensors((tmp / "s1.safetensors").string(), {{"a", t}, {"b", t}});
    save_safetensors((tmp / "s2.safetensors").string(), {{"c", t}, {"extra", t}});
  }
  void write_index(const json& weight_map) {
    write_file(tmp / "model.safetensors.index.json",
               json{{"metadata", {{"total_size", 24}}}, {"weight_map", weight_map}}.dump());
  }
  std::string open_error() {
    return error_of([&] { TensorStore::open_dir(tmp.path().string()); });
  }
  TempDir tmp;
};

TEST_F(ShardedDir, UsesTheIndex) {
  write_index({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s2.safetensors"}});
  TensorStore s = TensorStore::open_dir(tmp.path().string());
  EXPECT_EQ(s.names(), (std::vector<std::string>{"a", "b", "c", "extra"}));
  EXPECT_TRUE(s.contains("extra"));  // in a shard, though the index does not list it
  EXPECT_EQ(s.get("c").shape(), (Shape{2}));
}

TEST_F(ShardedDir, MissingShard) {
  write_index({{"a", "s1.safetensors"}, {"c", "gone.safetensors"}});
  std::string msg = open_error();
  EXPECT_HAS(msg, "gone.safetensors");
  EXPECT_HAS(msg, "No such file or directory");
}

TEST_F(ShardedDir, TensorMissingFromShard) {
  write_index({{"a", "s1.safetensors"}, {"c", "s1.safetensors"}});
  std::string msg = open_error();
  EXPECT_HAS(msg, "tensor 'c' in shard 's1.safetensors', but the shard does not contain it");
}

TEST_F(ShardedDir, BadIndex) {
  write_index({{"a", 3}});
  EXPECT_HAS(open_error(), "shard of tensor 'a' must be a string");
  write_index({{"a", "../s1.safetensors"}});
  EXPECT_HAS(open_error(), "is not a file name in the folder");
  write_file(tmp / "model.safetensors.index.json", R"({"metadata":{}})");
  EXPECT_HAS(open_error(), "\"weight_map\"");
  write_file(tmp / "model.safetensors.index.json", "{oops");
  std::string msg = open_error();
  EXPECT_HAS(msg, "model.safetensors.index.json");
  EXPECT_HAS(msg, "not valid JSON");
}

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
                "). Download it with `huggingface-cli download Qwen/Qwen3-0.6B` or pass a folder.");
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
