// Tokenizer: exact agreement with HuggingFace encodings (goldens.jsonl, llama.cpp test vectors,
// stories260K), round trips, streaming, robustness, and the supported pipeline pieces.
#include "purelm/tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "purelm/core/error.h"

namespace purelm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kShared = PURELM_SHARED_DIR;
const std::string kStories = kShared + "/models/stories260K";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

// Tokenizers are loaded once per process (qwen3's tokenizer.json is 11 MB).
const Tokenizer& tokenizer(const std::string& dir) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(dir);
  if (it == cache.end()) {
    auto t0 = std::chrono::steady_clock::now();
    it = cache.emplace(dir, Tokenizer::load(dir)).first;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ load     ] %s in %.3f s\n", dir.c_str(), s);
  }
  return it->second;
}
const Tokenizer& family(const std::string& name) {
  return tokenizer(kShared + "/tokenizers/" + name);
}

// Decodes id by id; every piece must be whole characters (no U+FFFD unless the full text has one).
std::string stream_decode(const Tokenizer& tok, const std::vector<int32_t>& ids,
                          bool skip_special) {
  const std::string replacement = "\xEF\xBF\xBD";
  bool full_has_replacement = tok.decode(ids, skip_special).find(replacement) != std::string::npos;
  StreamDecoder sd(tok, skip_special);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = sd.step(id);
    if (!full_has_replacement) {
      EXPECT_EQ(piece.find(replacement), std::string::npos) << "half a character";
    }
    out += piece;
  }
  return out + sd.flush();
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

class Family : public testing::TestWithParam<std::string> {};

TEST_P(Family, GoldensEncodeDecodeAndStream) {
  const Tokenizer& tok = family(GetParam());
  auto lines = read_jsonl(kShared + "/tokenizers/" + GetParam() + "/goldens.jsonl");
  ASSERT_GT(lines.size(), 40u);
  for (const auto& g : lines) {
    auto text = g["text"].get<std::string>();
    auto ids = g["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids_str(tok.encode(text, false)), ids_str(ids)) << "text: " << text;
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_EQ(stream_decode(tok, ids, false), tok.decode(ids)) << "text: " << text;
  }
  std::printf("[ goldens  ] %s: %zu lines\n", GetParam().c_str(), lines.size());
}

// llama.cpp's test vectors: .inp cases separated by "\n__ggml_vocab_test__\n", .out one line of
// space-separated ids per case (see tokenizers/SOURCES.md).
TEST_P(Family, LlamaCppVectors) {
  static const std::map<std::string, std::pair<std::string, std::string>> files = {
      {"qwen3", {"ggml-vocab-qwen2.gguf.inp", "ggml-vocab-qwen2.gguf.out"}},
      {"llama3", {"ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-llama-bpe.gguf.out"}},
      {"olmo2", {"llamacpp-test-inputs-92139b90.inp", "ggml-vocab-dbrx.gguf.out"}},
  };
  const std::string dir = kShared + "/tokenizers/" + GetParam() + "/";
  std::string inp = read_file(dir + files.at(GetParam()).first);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  for (size_t pos = 0, next; (next = inp.find(sep, pos)) != std::string::npos;
       pos = next + sep.size()) {
    cases.push_back(inp.substr(pos, next - pos));
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream out(read_file(dir + files.at(GetParam()).second));
  for (std::string line; std::getline(out, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(cases.size(), expected.size());
  const Tokenizer& tok = family(GetParam());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(ids_str(tok.encode(cases[i], false)), ids_str(expected[i]))
        << "case " << i << ": " << cases[i];
    EXPECT_EQ(tok.decode(expected[i]), cases[i]);
  }
  std::printf("[ llama.cpp] %s: %zu cases\n", GetParam().c_str(), cases.size());
}

// Text that must survive encode -> decode unchanged (no normalizer changes it).
TEST_P(Family, RoundTripsHardText) {
  const Tokenizer& tok = family(GetParam());
  std::string long_spaces(100000, ' ');
  const std::vector<std::string> texts = {
      "👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs",  // ZWJ sequences,
                                                                                 // modifiers
      "line one\r\nline two\r\n\r\n",                                            // CRLF
      "tabs\t\t\tand   spaces    " + long_spaces + "end",  // long whitespace run
      long_spaces,
      "int main() {\n    return x->y[3] != 0 ? a << 2 : b;  // ok\n}\n",
      "naïve café Ünïcödé — “quotes” … ½ ℕ ﬁ",
      "日本語のテキストと한국어 텍스트 and العربية",
      std::string("nul\0byte", 8),
      "'s 'S 'll 'LL 'd's 123456789 3.14159",
      std::string(5000, 'a'),
  };
  for (const auto& t : texts) {
    auto ids = tok.encode(t, false);
    EXPECT_EQ(tok.decode(ids), t);
    EXPECT_EQ(stream_decode(tok, ids, false), t);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Family, testing::Values("qwen3", "llama3", "olmo2"));

TEST(Tokenizer, QwenNormalizesToNfc) {
  const Tokenizer& tok = family("qwen3");
  EXPECT_EQ(tok.decode(tok.encode("cafe\xCC\x81")), "caf\xC3\xA9");  // e + U+0301 -> é
  EXPECT_EQ(tok.encode("cafe\xCC\x81"), tok.encode("caf\xC3\xA9"));
}

TEST(Tokenizer, SpecialTokensInsideText) {
  const Tokenizer& tok = family("qwen3");
  ASSERT_EQ(tok.token_to_id("<|im_end|>"), 151645);
  auto a = tok.encode("Hello", false), b = tok.encode(" world", false);
  std::vector<int32_t> want = a;
  want.push_back(151645);
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_EQ(tok.encode("Hello<|im_end|> world", false), want);
  EXPECT_EQ(tok.decode(want), "Hello<|im_end|> world");
  EXPECT_EQ(tok.decode(want, true), "Hello world");
  EXPECT_TRUE(tok.is_special(151645));
  EXPECT_FALSE(tok.is_special(151667));  // <think> is an added token, but not special
  EXPECT_EQ(tok.encode("<think>", false), std::vector<int32_t>{151667});
  EXPECT_EQ(tok.decode({151667}, true), "<think>");
  // Chat markup, as a rendered template hands it over.
  auto ids = tok.encode("<|im_start|>user\nHi<|im_end|>\n", false);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(ids[ids.size() - 2], 151645);
}

TEST(Tokenizer, PostProcessorAddsBos) {
  const Tokenizer& llama = family("llama3");
  auto with = llama.encode("Hello world"), without = llama.encode("Hello world", false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with[0], 128000);
  EXPECT_EQ(llama.decode(with, true), "Hello world");
  EXPECT_EQ(llama.decode(with), "<|begin_of_text|>Hello world");
  // Qwen3 and OLMo 2 add nothing.
  EXPECT_EQ(family("qwen3").encode("Hi"), family("qwen3").encode("Hi", false));
  EXPECT_EQ(family("olmo2").encode("Hi"), family("olmo2").encode("Hi", false));
}

TEST(Tokenizer, ConfigTokensAndTemplates) {
  const Tokenizer& qwen = family("qwen3");
  EXPECT_EQ(qwen.eos_token(), "<|im_end|>");
  EXPECT_EQ(qwen.eos_id(), 151645);
  EXPECT_EQ(qwen.pad_id(), 151643);
  EXPECT_EQ(qwen.bos_id(), std::nullopt);
  EXPECT_NE(qwen.chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(qwen.vocab_size(), 151669);
  EXPECT_EQ(qwen.id_to_token(9707), "Hello");
  EXPECT_EQ(qwen.id_to_token(1 << 30), std::nullopt);

  const Tokenizer& llama = family("llama3");
  EXPECT_EQ(llama.bos_id(), 128000);
  EXPECT_EQ(llama.eos_id(), 128009);  // <|eot_id|>
  EXPECT_NE(llama.chat_template().find("start_header_id"), std::string::npos);
  EXPECT_EQ(llama.vocab_size(), 128256);

  const Tokenizer& olmo = family("olmo2");  // no tokenizer_config.json, a chat_template.jinja
  EXPECT_EQ(olmo.bos_token(), "");
  EXPECT_EQ(olmo.chat_template(), read_file(kShared + "/tokenizers/olmo2/chat_template.jinja"));

  const Tokenizer& stories = tokenizer(kStories);
  EXPECT_EQ(stories.bos_id(), 1);
  EXPECT_EQ(stories.eos_id(), 2);
  EXPECT_EQ(stories.unk_id(), 0);
  EXPECT_EQ(stories.chat_template(), "");
  EXPECT_EQ(stories.vocab_size(), 512);
}

// Invalid UTF-8 is replaced, maximal invalid subsequence by subsequence, with U+FFFD.
TEST(Tokenizer, InvalidUtf8) {
  const std::string bad = "abc\xFF\xFE def\xE2\x82 x\xC3";
  const std::string repaired = "abc\xEF\xBF\xBD\xEF\xBF\xBD def\xEF\xBF\xBD x\xEF\xBF\xBD";
  for (const char* name : {"qwen3", "llama3", "olmo2"}) {
    const Tokenizer& tok = family(name);
    EXPECT_EQ(tok.encode(bad, false), tok.encode(repaired, false)) << name;
    EXPECT_EQ(tok.decode(tok.encode(bad, false)), repaired) << name;
  }
  const Tokenizer& stories = tokenizer(kStories);
  EXPECT_EQ(stories.decode(stories.encode(bad), true), repaired);
  // Ids that cut a character in half decode with U+FFFD, and streaming holds them back.
  const Tokenizer& qwen = family("qwen3");
  auto ids = qwen.encode(" 🦙", false);  // " \xF0\x9F", "\xA6", "\x99" (see goldens)
  ASSERT_EQ(ids, (std::vector<int32_t>{11162, 99, 247}));
  EXPECT_EQ(qwen.decode({ids[0]}), " \xEF\xBF\xBD");
  StreamDecoder sd(qwen);
  EXPECT_EQ(sd.step(ids[0]), "");
  EXPECT_EQ(sd.step(ids[1]), "");
  EXPECT_EQ(sd.step(ids[2]), " 🦙");
  EXPECT_EQ(sd.step(ids[0]), "");
  EXPECT_EQ(sd.flush(), " \xEF\xBF\xBD");
  // Unknown ids are skipped.
  EXPECT_EQ(qwen.decode({9707, -5, 1 << 30, 1879}), "Hello world");
}

TEST(Tokenizer, StoriesTokenizerGoldens) {
  const Tokenizer& tok = tokenizer(kStories);
  auto lines = read_jsonl(kStories + "/tokenizer_goldens.jsonl");
  ASSERT_EQ(lines.size(), 19u);
  for (const auto& g : lines) {
    auto text = g["text"].get<std::string>();
    auto ids = g["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids_str(tok.encode(text, true)), ids_str(ids)) << "text: " << text;
    EXPECT_EQ(stream_decode(tok, ids, true), tok.decode(ids, true)) << "text: " << text;
    // A literal "▁" decodes as a space; everything else survives the round trip.
    if (text.find("\xE2\x96\x81") == std::string::npos) {
      EXPECT_EQ(tok.decode(ids, true), text);
    }
  }
}

TEST(Tokenizer, StoriesGenerationsDecodeLikeRunC) {
  const Tokenizer& tok = tokenizer(kStories);
  for (const auto& g : read_jsonl(kStories + "/goldens.jsonl")) {
    auto all = g["all_ids"].get<std::vector<int32_t>>();
    auto expected = g["runc_stdout"].get<std::string>();
    EXPECT_EQ(tok.encode(g["prompt"].get<std::string>()),
              g["prompt_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok.decode(all, true), expected);
    EXPECT_EQ(stream_decode(tok, all, true), expected);
    EXPECT_EQ(stream_decode(tok, all, false), tok.decode(all));
  }
}

TEST(Tokenizer, LoadErrorsNameTheFile) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/dir"), Error);
  fs::path dir = fs::temp_directory_path() / "purelm_tokenizer_test_bad";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "Unigram", "vocab": []}})";
  try {
    Tokenizer::load(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Unigram"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "tokenizer.json") << "{ not json";
  EXPECT_THROW(Tokenizer::load((dir / "tokenizer.json").string()), Error);
  fs::remove_all(dir);
}

// ---- Pipeline pieces the real files above do not exercise, on small hand-made tokenizer.json ----

// Loads a tokenizer from JSON written to a temporary folder.
Tokenizer from_json(const json& j) {
  static int n = 0;
  fs::path dir = fs::temp_directory_path() /
                 ("purelm_tok_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << j.dump();
  Tokenizer t = Tokenizer::load(dir.string());
  fs::remove_all(dir);
  return t;
}

// a b - space 1 2 A <unk>, merges a- -b -- 12 ab (in that rank order).
json tiny(json pre_tokenizer = nullptr, json normalizer = nullptr) {
  json vocab = {{"a", 0},     {"b", 1},  {"-", 2},  {" ", 3},   {"1", 4},   {"2", 5},  {"A", 6},
                {"<unk>", 7}, {"a-", 8}, {"-b", 9}, {"--", 10}, {"12", 11}, {"ab", 12}};
  return {{"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", {"a -", "- b", "- -", "1 2", "a b"}},
            {"unk_token", nullptr}}},
          {"pre_tokenizer", pre_tokenizer},
          {"normalizer", normalizer}};
}

using Ids = std::vector<int32_t>;

TEST(Pipeline, SplitBehaviors) {
  auto split = [](const char* behavior, bool invert = false) {
    return tiny({{"type", "Split"},
                 {"pattern", {{"String", "-"}}},
                 {"behavior", behavior},
                 {"invert", invert}});
  };
  EXPECT_EQ(from_json(tiny()).encode("a-b"), (Ids{8, 1}));  // one word: "a -" merges first
  EXPECT_EQ(from_json(split("Removed")).encode("a-b"), (Ids{0, 1}));
  EXPECT_EQ(from_json(split("Isolated")).encode("a-b"), (Ids{0, 2, 1}));
  EXPECT_EQ(from_json(split("MergedWithPrevious")).encode("a-b"), (Ids{8, 1}));
  EXPECT_EQ(from_json(split("MergedWithNext")).encode("a-b"), (Ids{0, 9}));
  EXPECT_EQ(from_json(split("MergedWithNext")).encode("a--b"), (Ids{0, 2, 9}));
  EXPECT_EQ(from_json(split("Contiguous")).encode("a--b"), (Ids{0, 10, 1}));
  EXPECT_EQ(from_json(split("Isolated")).encode("a--b"), (Ids{0, 2, 2, 1}));
  // Inverted, "a" and "b" are the delimiters and "-" the text between them.
  EXPECT_EQ(from_json(split("MergedWithPrevious", true)).encode("a-b"), (Ids{0, 9}));
  EXPECT_EQ(from_json(split("Removed", true)).encode("a-b"), (Ids{2}));
  auto regex = tiny({{"type", "Split"},
                     {"pattern", {{"Regex", "\\p{L}+"}}},
                     {"behavior", "Removed"},
                     {"invert", true}});
  EXPECT_EQ(from_json(regex).encode("ab-a"), (Ids{12, 0}));
}

TEST(Pipeline, OtherPreTokenizers) {
  EXPECT_EQ(from_json(tiny({{"type", "Digits"}, {"individual_digits", true}})).encode("a12"),
            (Ids{0, 4, 5}));
  EXPECT_EQ(from_json(tiny({{"type", "Digits"}, {"individual_digits", false}})).encode("a12"),
            (Ids{0, 11}));
  EXPECT_EQ(from_json(tiny({{"type", "WhitespaceSplit"}})).encode("a -  b"), (Ids{0, 2, 1}));
  EXPECT_EQ(from_json(tiny({{"type", "Whitespace"}})).encode("ab-- a"), (Ids{12, 10, 0}));
  EXPECT_EQ(from_json(tiny({{"type", "Punctuation"}})).encode("a-b"), (Ids{0, 2, 1}));
  json seq = {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}, {"individual_digits", true}}}}};
  EXPECT_EQ(from_json(tiny(seq)).encode("a12 12"), (Ids{0, 4, 5, 4, 5}));
}

TEST(Pipeline, Normalizers) {
  EXPECT_EQ(from_json(tiny(nullptr, {{"type", "Lowercase"}})).encode("AB"), (Ids{12}));
  EXPECT_EQ(
      from_json(tiny(nullptr, {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}))
          .encode("  ab \n"),
      (Ids{12}));
  EXPECT_EQ(from_json(tiny(nullptr, {{"type", "NFKC"}})).encode("\xEF\xBD\x81\xEF\xBD\x82"),
            (Ids{12}));  // fullwidth "ａｂ"
  json seq = {{"type", "Sequence"},
              {"normalizers",
               {{{"type", "NFD"}},
                {{"type", "StripAccents"}},
                {{"type", "Replace"}, {"pattern", {{"Regex", "[0-9]+"}}}, {"content", "-"}}}}};
  EXPECT_EQ(from_json(tiny(nullptr, seq))
                .encode("a\xCC\x81"
                        "12b"),
            (Ids{8, 1}));  // á12b -> a-b
}

TEST(Pipeline, UnknownCharacters) {
  json j = tiny();
  EXPECT_EQ(from_json(j).encode("aXYb"),
            (Ids{12}));  // no unk_token: dropped (then "a b" merge), as in HF
  j["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(from_json(j).encode("aXYb"), (Ids{0, 7, 7, 1}));
  j["model"]["fuse_unk"] = true;
  EXPECT_EQ(from_json(j).encode("aXYb"), (Ids{0, 7, 1}));
}

TEST(Pipeline, AddedTokenOptions) {
  json j = tiny();
  auto with = [&](const json& options) {
    json token = {{"single_word", false},
                  {"lstrip", false},
                  {"rstrip", false},
                  {"normalized", false},
                  {"special", true}};
    token.merge_patch(options);
    json t = j;
    t["added_tokens"] = json::array({token});
    return from_json(t);
  };
  EXPECT_EQ(with({{"id", 13}, {"content", "<x>"}, {"lstrip", true}}).encode("a <x> b"),
            (Ids{0, 13, 3, 1}));
  EXPECT_EQ(with({{"id", 13}, {"content", "<x>"}, {"rstrip", true}}).encode("a <x> b"),
            (Ids{0, 3, 13, 1}));
  EXPECT_EQ(with({{"id", 13}, {"content", "<x>"}}).encode("a <x> b"), (Ids{0, 3, 13, 3, 1}));
  // single_word: "ba" inside "aba" is not a word of its own, so BPE sees "aba".
  EXPECT_EQ(with({{"id", 13}, {"content", "ba"}, {"single_word", true}}).encode("ba aba"),
            (Ids{13, 3, 12, 0}));
  EXPECT_EQ(with({{"id", 13}, {"content", "ba"}}).encode("ba aba"), (Ids{13, 3, 0, 13}));
  // normalized=true tokens match the normalized text.
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_EQ(with({{"id", 13}, {"content", "ba"}, {"normalized", true}}).encode("BA-BA"),
            (Ids{13, 2, 13}));
  EXPECT_EQ(with({{"id", 13}, {"content", "BA"}}).encode("BA-ba"), (Ids{13, 9, 0}));
  // Longest match wins among tokens starting at the same place.
  json t = j;
  t["added_tokens"] = {{{"id", 13}, {"content", "<x"}, {"special", true}},
                       {{"id", 14}, {"content", "<x>"}, {"special", true}}};
  EXPECT_EQ(from_json(t).encode("<x><x"), (Ids{14, 13}));
}

TEST(Pipeline, SubwordPrefixAndWordSuffix) {
  json prefixed = {{"model",
                    {{"type", "BPE"},
                     {"vocab", {{"a", 0}, {"##a", 1}, {"##b", 2}, {"ab", 3}}},
                     {"merges", json::array({json::array({"a", "##b"})})},
                     {"continuing_subword_prefix", "##"}}}};
  EXPECT_EQ(from_json(prefixed).encode("abaa"), (Ids{3, 1, 1}));
  json suffixed = {{"model",
                    {{"type", "BPE"},
                     {"vocab", {{"a", 0}, {"b", 1}, {"b</w>", 2}, {"ab</w>", 3}}},
                     {"merges", {"a b</w>"}},
                     {"end_of_word_suffix", "</w>"}}},
                   {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                   {"decoder", {{"type", "BPEDecoder"}, {"suffix", "</w>"}}}};
  Tokenizer tok = from_json(suffixed);
  EXPECT_EQ(tok.encode("ab ab"), (Ids{3, 3}));
  EXPECT_EQ(tok.decode({3, 3}), "ab ab");
}

// GPT-2 style: ByteLevel doing the split itself, with add_prefix_space.
TEST(Pipeline, ByteLevelWithRegexAndPrefixSpace) {
  json j = json::parse(read_file(kShared + "/tokenizers/olmo2/tokenizer.json"));
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  Tokenizer gpt2 = from_json(j);
  const Tokenizer& olmo = family("olmo2");
  EXPECT_EQ(gpt2.encode("Hello world"), olmo.encode(" Hello world"));
  EXPECT_EQ(gpt2.encode(" Hello world"), olmo.encode(" Hello world"));
  EXPECT_EQ(gpt2.encode("it's a test"), olmo.encode(" it's a test"));
}

// The stories260K tokenizer rebuilt the newer way: Metaspace pre-tokenizer and decoder instead of
// the Prepend/Replace normalizer and Replace/Strip decoder.
TEST(Pipeline, Metaspace) {
  json j = json::parse(read_file(kStories + "/tokenizer.json"));
  const Tokenizer& legacy = tokenizer(kStories);
  j["normalizer"] = nullptr;
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Metaspace"},
                     {"replacement", "\xE2\x96\x81"},
                     {"prepend_scheme", "always"},
                     {"split", true}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}}}}};
  for (const char* scheme : {"always", "first"}) {
    for (bool split : {false, true}) {
      j["pre_tokenizer"] = {{"type", "Metaspace"},
                            {"replacement", "\xE2\x96\x81"},
                            {"prepend_scheme", scheme},
                            {"split", split}};
      Tokenizer tok = from_json(j);
      for (const char* text :
           {"Once upon a time", "Lily and Tom went to the park.", "naïve café", "a"}) {
        EXPECT_EQ(tok.encode(text), legacy.encode(text)) << text;
        EXPECT_EQ(tok.decode(tok.encode(text), true), text);
      }
      // A leading space is already a "▁": nothing is prepended (the Prepend normalizer adds one).
      EXPECT_EQ(tok.encode(" a", false).size(), 1u);
      // After a special token, "first" does not prepend.
      auto ids = tok.encode("<s>Once", false);
      ASSERT_GE(ids.size(), 2u);
      EXPECT_EQ(ids[0], 1);
      EXPECT_EQ(tok.id_to_token(ids[1])->starts_with("\xE2\x96\x81"),
                std::string(scheme) == "always")
          << scheme;
    }
  }
}

TEST(Pipeline, ByteFallbackDecoding) {
  const Tokenizer& tok = tokenizer(kStories);  // "<0xXX>" is id 3 + XX
  EXPECT_EQ(tok.decode({3 + 0xC3, 3 + 0xA9}), "\xC3\xA9");
  EXPECT_EQ(tok.decode({3 + 0xE2, 3 + 0x82}), "\xEF\xBF\xBD\xEF\xBF\xBD");  // one U+FFFD per byte
  EXPECT_EQ(tok.decode({1, 403}), "<s> Once");  // Strip removes one leading space only
}

// A whole corpus: a cold word cache and a warm one agree, and decoding gives the text back.
// (Speed is measured by `purelm bench`, not here.)
TEST(Tokenizer, WholeCorpusWithColdAndWarmCache) {
  std::string text = read_file(kShared + "/data/tinyshakespeare.txt");
  const Tokenizer& tok = family("qwen3");
  const Tokenizer cold = Tokenizer::load(kShared + "/tokenizers/qwen3");  // empty word cache
  std::vector<int32_t> first = cold.encode(text, false);
  EXPECT_EQ(cold.encode(text, false), first);
  EXPECT_EQ(tok.encode(text, false), first);
  EXPECT_EQ(tok.decode(first), text);
}

}  // namespace
}  // namespace purelm
