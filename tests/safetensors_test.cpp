// io/safetensors: reading (fixtures, shards, hostile files) and writing.
#include "purelm/io/safetensors.h"

#include <cstring>
#include <map>
#include <optional>

#include "io_testing.h"
#include "purelm/io/config.h"
#include "purelm/models/family.h"

namespace purelm {
namespace {

using namespace io_testing;

// A safetensors file from a header text and `data` bytes; `n` overrides the length field.
std::string st_bytes(const std::string& header, size_t data, std::optional<uint64_t> n = {}) {
  uint64_t len = n ? *n : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(len >> (8 * i));
  return out + header + std::string(data, '\x01');
}

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
                "': unsupported dtype 'F8_E4M3' (supported: F32, BF16, F16, I32, I64, U8)");
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

}  // namespace
}  // namespace purelm
