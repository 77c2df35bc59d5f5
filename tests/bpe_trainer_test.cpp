// BPE trainer: merges computed by hand on tiny corpora, HF's tie-break, the tokenizer.json schema
// (checked against Qwen3's real file), and round trips through purelm's own loader.
#include "purelm/tokenizer/bpe_trainer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "purelm/core/error.h"
#include "purelm/tokenizer/tokenizer.h"
#include "testing.h"

namespace purelm {
namespace {

using nlohmann::json;
using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::string& shakespeare() {
  static const std::string text = slurp(testing::shared("data/tinyshakespeare.txt"));
  return text;
}

// Merges as pairs of raw byte strings, the way one computes them by hand.
std::vector<std::pair<std::string, std::string>> merge_strings(const BpeModel& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [a, b] : m.merges) out.emplace_back(m.tokens[a], m.tokens[b]);
  return out;
}

BpeTrainerOptions opts_with_vocab(int vocab_size) {
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  return o;
}

using Merges = std::vector<std::pair<std::string, std::string>>;

TEST(BpeTrainer, HandComputedMerges) {
  // Words "aaab", " aaab", " aab". Pair counts: aa 5, ab 3, " a" 2 -> merge (a, a).
  // Then aa+a 2, a+b 2, " "+aa 2, aa+b 1: a tie, won by the smallest HF ids, (a, b).
  // Then aa+ab 2, " "+aa 2: " " (id 220 in HF's order) beats aa (a merged token, after all bytes).
  // Then every pair occurs once, below min_frequency 2: training stops with 3 merges.
  BpeModel m = train_bpe("aaab aaab aab", opts_with_vocab(1000));
  EXPECT_EQ(merge_strings(m), (Merges{{"a", "a"}, {"a", "b"}, {" ", "aa"}}));
  ASSERT_EQ(m.tokens.size(), 259u);
  EXPECT_EQ(m.tokens[256], "aa");
  EXPECT_EQ(m.tokens[258], " aa");
}

TEST(BpeTrainer, TiesFollowHfCodePointOrderNotByteOrder) {
  // " ab" twice: (" ", a) and (a, b) tie at 2. In byte order " " (0x20) comes first, but HF numbers
  // the base symbols by their byte-level character, and " " is U+0120, after every letter.
  BpeModel m = train_bpe(" ab ab", opts_with_vocab(1000));
  EXPECT_EQ(merge_strings(m), (Merges{{"a", "b"}, {" ", "ab"}}));
}

TEST(BpeTrainer, MergesLeftToRightWithoutOverlap) {
  // "aaaaa" once: (a, a) becomes aa aa a, not aa a aa or overlapping pairs. Then (aa, aa) and
  // (aa, a) tie at 1 and the base symbol a has the smaller id: aa aaa, then aaaaa.
  BpeTrainerOptions o = opts_with_vocab(1000);
  o.min_frequency = 1;
  BpeModel m = train_bpe("aaaaa", o);
  EXPECT_EQ(merge_strings(m), (Merges{{"a", "a"}, {"aa", "a"}, {"aa", "aaa"}}));
}

TEST(BpeTrainer, StopsAtVocabSizeAndMinFrequency) {
  BpeModel m = train_bpe(shakespeare().substr(0, 100000), opts_with_vocab(300));
  EXPECT_EQ(m.tokens.size() + 1, 300u);  // + <|endoftext|>
  EXPECT_EQ(m.merges.size(), 43u);
  BpeTrainerOptions o = opts_with_vocab(300);
  o.min_frequency = 1000000;
  EXPECT_TRUE(train_bpe(shakespeare(), o).merges.empty());
  EXPECT_THROW(train_bpe("abc", opts_with_vocab(256)), Error);  // no room for <|endoftext|>
}

TEST(BpeTrainer, SpecialTokensInTheTextAreCutOut) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "hello<|endoftext|>";
  BpeModel m = train_bpe(text, opts_with_vocab(300));
  // The first 256 tokens are the byte alphabet; no merge may reach into the special token.
  for (size_t i = 256; i < m.tokens.size(); ++i) {
    EXPECT_EQ(m.tokens[i].find_first_of("<|>"), std::string::npos) << m.tokens[i];
  }
  EXPECT_EQ(m.tokens.back(), "hello");
}

TEST(BpeTrainer, Deterministic) {
  TempDir tmp;
  const std::string text = shakespeare().substr(0, 200000);
  train_bpe_tokenizer(text, opts_with_vocab(600), tmp.path("a"));
  train_bpe_tokenizer(text, opts_with_vocab(600), tmp.path("b"));
  EXPECT_EQ(slurp(tmp.path("a/tokenizer.json")), slurp(tmp.path("b/tokenizer.json")));
  EXPECT_EQ(slurp(tmp.path("a/tokenizer_config.json")), slurp(tmp.path("b/tokenizer_config.json")));
}

// One vocab-1024 tokenizer trained on all of tinyshakespeare, shared by the tests below.
class TrainedOnShakespeare : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    train_bpe_tokenizer(shakespeare(), opts_with_vocab(1024), dir_->path("tok"));
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& name) { return dir_->path("tok/" + name); }
  static inline TempDir* dir_ = nullptr;
};

TEST_F(TrainedOnShakespeare, JsonMatchesHfSchemaAndQwen3Pipeline) {
  json t = json::parse(slurp(path("tokenizer.json")));
  json qwen = json::parse(slurp(testing::shared("tokenizers/qwen3/tokenizer.json")));
  EXPECT_EQ(t["version"], "1.0");
  EXPECT_TRUE(t["truncation"].is_null() && t["padding"].is_null());
  for (const char* k : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    EXPECT_EQ(t[k], qwen[k]) << k;
  }
  json qm = qwen["model"], m = t["model"];
  for (const auto& [k, v] : qm.items()) {
    if (k != "vocab" && k != "merges") {
      EXPECT_EQ(m[k], v) << k;
    }
  }
  ASSERT_EQ(t["added_tokens"].size(), 1u);
  json special = t["added_tokens"][0];
  json qspecial = qwen["added_tokens"][0];
  EXPECT_EQ(special["content"], "<|endoftext|>");
  EXPECT_EQ(special["id"], 1023);
  qspecial["id"] = 1023;
  EXPECT_EQ(special, qspecial);

  // Vocab: the 256 byte-level characters in byte order, then one token per merge, in order.
  const json& vocab = m["vocab"];
  const json& merges = m["merges"];
  ASSERT_EQ(vocab.size(), 1023u);
  ASSERT_EQ(merges.size(), 1023u - 256u);
  std::vector<std::string> by_id(vocab.size());
  for (const auto& [tok, id] : vocab.items()) by_id.at(id.get<size_t>()) = tok;
  EXPECT_EQ(by_id[0], "\xC4\x80");   // byte 0 -> U+0100
  EXPECT_EQ(by_id[32], "\xC4\xA0");  // " "    -> U+0120 (Ġ)
  EXPECT_EQ(by_id['a'], "a");
  EXPECT_EQ(by_id[255], "\xC3\xBF");  // 0xFF   -> U+00FF
  for (size_t i = 0; i < merges.size(); ++i) {
    ASSERT_TRUE(merges[i].is_array() && merges[i].size() == 2);
    EXPECT_EQ(by_id[256 + i], merges[i][0].get<std::string>() + merges[i][1].get<std::string>());
  }

  json c = json::parse(slurp(path("tokenizer_config.json")));
  EXPECT_EQ(c["tokenizer_class"], "PreTrainedTokenizerFast");
  EXPECT_EQ(c["eos_token"], "<|endoftext|>");
  EXPECT_EQ(c["pad_token"], "<|endoftext|>");
  EXPECT_TRUE(c["bos_token"].is_null());
  EXPECT_EQ(c["clean_up_tokenization_spaces"], false);
  EXPECT_EQ(c["added_tokens_decoder"]["1023"]["content"], "<|endoftext|>");
  EXPECT_EQ(c["added_tokens_decoder"]["1023"]["special"], true);
}

TEST_F(TrainedOnShakespeare, LoaderRoundTripsAndCompresses) {
  Tokenizer tok = Tokenizer::load(path(""));
  EXPECT_EQ(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.eos_id(), 1023);
  EXPECT_EQ(tok.pad_id(), 1023);
  const std::string& text = shakespeare();
  std::vector<int32_t> ids = tok.encode(text, true);  // the ByteLevel post-processor adds nothing
  EXPECT_EQ(tok.decode(ids), text);
  const double bytes_per_token = double(text.size()) / double(ids.size());
  EXPECT_GT(bytes_per_token, 2.5);
  for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 1023);

  std::vector<int32_t> with_eos =
      tok.encode("First Citizen:<|endoftext|>\xF0\x9F\x8E\xAD é", false);
  EXPECT_EQ(std::count(with_eos.begin(), with_eos.end(), 1023), 1);
  EXPECT_EQ(tok.decode(with_eos), "First Citizen:<|endoftext|>\xF0\x9F\x8E\xAD é");
  EXPECT_EQ(tok.decode(with_eos, true), "First Citizen:\xF0\x9F\x8E\xAD é");
}

TEST(BpeTrainerCli, TrainsAndReports) {
  TempDir tmp;
  {
    std::ofstream f(tmp.path("data.txt"), std::ios::binary);
    f << shakespeare().substr(0, 50000);
  }
  auto r =
      testing::run_cli({"train-tokenizer", "--data", tmp.path("data.txt"), "--vocab-size", "400",
                        "--out", tmp.path("tok"), "--special", "<|endoftext|>", "<|pad|>"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("vocab size      400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bytes per token"), std::string::npos) << r.out;
  Tokenizer tok = Tokenizer::load(tmp.path("tok/tokenizer.json"));
  EXPECT_EQ(tok.token_to_id("<|pad|>"), 399);
  EXPECT_EQ(tok.eos_id(), 398);
}

}  // namespace
}  // namespace purelm
