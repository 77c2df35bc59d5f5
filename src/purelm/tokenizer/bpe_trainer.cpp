#include "purelm/tokenizer/bpe_trainer.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "purelm/core/error.h"
#include "purelm/tokenizer/normalizer.h"
#include "purelm/tokenizer/regex.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm {

namespace {

using ojson = nlohmann::ordered_json;

uint64_t pair_key(int32_t a, int32_t b) { return uint64_t(uint32_t(a)) << 32 | uint32_t(b); }

struct Word {
  std::vector<int32_t> syms;
  int64_t count;
};

// Unique pre-tokenized words of `text` with their counts, as byte ids. Words of one byte are
// dropped: they hold no pair, so they cannot influence training.
std::vector<Word> count_words(const std::string& raw, const BpeTrainerOptions& opts) {
  const std::string text = tok::to_valid_utf8(raw);
  const tok::Regex split(opts.pattern);
  const auto nfc = tok::make_normalizer(nlohmann::json{{"type", "NFC"}});
  std::unordered_map<std::string, int64_t> counts;
  auto add = [&](std::string_view w) {
    if (w.size() > 1) ++counts[std::string(w)];
  };
  auto count_segment = [&](std::string seg) {
    nfc->normalize(seg);
    size_t last = 0;  // Isolated: the text between matches is a word of its own too
    split.for_each_match(seg, [&](size_t start, size_t end) {
      if (start > last) add(std::string_view(seg).substr(last, start - last));
      add(std::string_view(seg).substr(start, end - start));
      last = end;
    });
    if (last < seg.size()) add(std::string_view(seg).substr(last));
  };
  // Special tokens are cut out first, as the tokenizer does before normalising and splitting.
  const auto& specials = opts.special_tokens;
  std::vector<size_t> next;  // the next occurrence of each special token at or after pos
  for (const auto& s : specials) next.push_back(text.find(s));
  size_t pos = 0;
  while (pos < text.size()) {
    size_t at = text.size(), len = 0;
    for (size_t i = 0; i < specials.size(); ++i) {
      if (next[i] < pos) next[i] = text.find(specials[i], pos);
      if (next[i] < at || (next[i] == at && specials[i].size() > len)) {
        at = next[i], len = specials[i].size();
      }
    }
    count_segment(text.substr(pos, at - pos));
    pos = at + len;
  }

  std::vector<Word> words;
  words.reserve(counts.size());
  for (const auto& [w, c] : counts) {
    Word word{{}, c};
    for (unsigned char b : w) word.syms.push_back(b);
    words.push_back(std::move(word));
  }
  return words;
}

// HF numbers the base symbols by the code point of their byte-level character, and ties between
// equally frequent pairs go to the smallest ids: rank[b] is byte b's position in that order.
std::array<uint32_t, 256> hf_byte_ranks() {
  std::array<std::pair<char32_t, int>, 256> by_cp;
  for (int b = 0; b < 256; ++b) {
    size_t i = 0;
    by_cp[b] = {tok::next_codepoint(tok::byte_to_unicode(b), i), b};
  }
  std::sort(by_cp.begin(), by_cp.end());
  std::array<uint32_t, 256> rank;
  for (int r = 0; r < 256; ++r) rank[by_cp[r].second] = r;
  return rank;
}

// A pair in the priority queue. Counts only fall for pairs already queued (new occurrences always
// involve the newest token), so a popped entry whose count is stale is re-queued with the true
// count: the first up-to-date entry popped is the true best pair.
struct Candidate {
  int64_t count;
  uint64_t order;  // (hf rank of left) << 32 | hf rank of right: smaller wins ties
  uint64_t key;
  bool operator<(const Candidate& o) const {
    return count != o.count ? count < o.count : order > o.order;
  }
};

// Replaces each non-overlapping (a, b), left to right, by `id`, as HF's Word::merge does.
void merge_word(std::vector<int32_t>& s, int32_t a, int32_t b, int32_t id) {
  size_t j = 0;
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
      s[j++] = id;
      i += 2;
    } else {
      s[j++] = s[i++];
    }
  }
  s.resize(j);
}

bool has_pair(const std::vector<int32_t>& s, int32_t a, int32_t b) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == a && s[i + 1] == b) return true;
  }
  return false;
}

void write_atomically(const std::filesystem::path& path, const std::string& content) {
  auto tmp = path;
  tmp += ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(content.data(), std::streamsize(content.size()));
    f.close();
    check(bool(f), "cannot write ", tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

std::string byte_level(std::string_view bytes) {
  std::string s;
  tok::append_byte_level(s, bytes);
  return s;
}

}  // namespace

BpeModel train_bpe(const std::string& text, const BpeTrainerOptions& opts) {
  const int n_special = int(opts.special_tokens.size());
  check(opts.vocab_size >= 256 + n_special, "train_bpe: vocab_size ", opts.vocab_size,
        " is below 256 bytes + ", n_special, " special tokens");
  for (const auto& s : opts.special_tokens) check(!s.empty(), "train_bpe: empty special token");

  std::vector<Word> words = count_words(text, opts);
  BpeModel model;
  for (int b = 0; b < 256; ++b) model.tokens.emplace_back(1, char(b));
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) id_of[model.tokens[b]] = b;
  const auto byte_rank = hf_byte_ranks();
  auto rank = [&](int32_t id) { return id < 256 ? byte_rank[id] : uint32_t(id); };

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that may hold it
  for (int32_t w = 0; w < int32_t(words.size()); ++w) {
    const auto& s = words[w].syms;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      uint64_t k = pair_key(s[i], s[i + 1]);
      pair_count[k] += words[w].count;
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<Candidate> queue;
  auto push = [&](uint64_t k, int64_t count) {
    queue.push({count, uint64_t(rank(int32_t(k >> 32))) << 32 | rank(int32_t(k)), k});
  };
  for (const auto& [k, c] : pair_count) push(k, c);

  const int wanted = opts.vocab_size - 256 - n_special;
  std::vector<int> seen(words.size(), -1);  // last merge step that visited each word
  std::vector<uint64_t> born;               // pairs that gained occurrences in this step
  while (int(model.tokens.size()) + n_special < opts.vocab_size && !queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    int64_t count = pair_count[top.key];
    if (count != top.count) {
      if (count > 0) queue.push({count, top.order, top.key});
      continue;
    }
    if (count < std::max<int64_t>(opts.min_frequency, 1)) break;

    const int32_t a = int32_t(top.key >> 32), b = int32_t(uint32_t(top.key));
    std::string merged = model.tokens[a] + model.tokens[b];
    auto [it, fresh] = id_of.try_emplace(merged, int32_t(model.tokens.size()));
    const int32_t id = it->second;  // an existing token is reused, as HF does
    if (fresh) model.tokens.push_back(std::move(merged));
    const int step = int(model.merges.size());
    model.merges.emplace_back(a, b);

    // Re-count each affected word whole: words are short, and this keeps the counts exact.
    std::vector<int32_t> affected = std::move(where[top.key]);
    where.erase(top.key);
    born.clear();
    for (int32_t w : affected) {
      auto& s = words[w].syms;
      if (seen[w] == step || !has_pair(s, a, b)) continue;
      seen[w] = step;
      const int64_t c = words[w].count;
      for (size_t i = 0; i + 1 < s.size(); ++i) pair_count[pair_key(s[i], s[i + 1])] -= c;
      merge_word(s, a, b, id);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t k = pair_key(s[i], s[i + 1]);
        pair_count[k] += c;
        if (s[i] == id || s[i + 1] == id) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
          born.push_back(k);
        }
      }
    }
    std::sort(born.begin(), born.end());
    born.erase(std::unique(born.begin(), born.end()), born.end());
    for (uint64_t k : born) {
      if (pair_count[k] > 0) push(k, pair_count[k]);
    }
    if (opts.on_progress) opts.on_progress(int(model.merges.size()), wanted);
  }
  return model;
}

void save_bpe_tokenizer(const BpeModel& model, const BpeTrainerOptions& opts,
                        const std::string& out_dir) {
  const ojson byte_level_step = {{"type", "ByteLevel"},
                                 {"add_prefix_space", false},
                                 {"trim_offsets", false},
                                 {"use_regex", false}};
  ojson added = ojson::array(), added_decoder = ojson::object();
  for (size_t i = 0; i < opts.special_tokens.size(); ++i) {
    const int64_t id = int64_t(model.tokens.size() + i);
    ojson flags = {{"single_word", false},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"normalized", false},
                   {"special", true}};
    ojson entry = {{"id", id}, {"content", opts.special_tokens[i]}};
    entry.update(flags);
    added.push_back(entry);
    ojson dec = {{"content", opts.special_tokens[i]}};
    dec.update(flags);
    added_decoder[std::to_string(id)] = dec;
  }
  ojson vocab = ojson::object();
  for (size_t i = 0; i < model.tokens.size(); ++i) vocab[byte_level(model.tokens[i])] = i;
  ojson merges = ojson::array();
  for (auto [a, b] : model.merges) {
    merges.push_back({byte_level(model.tokens[a]), byte_level(model.tokens[b])});
  }

  ojson tokenizer = {{"version", "1.0"},
                     {"truncation", nullptr},
                     {"padding", nullptr},
                     {"added_tokens", added},
                     {"normalizer", {{"type", "NFC"}}},
                     {"pre_tokenizer",
                      {{"type", "Sequence"},
                       {"pretokenizers",
                        {{{"type", "Split"},
                          {"pattern", {{"Regex", opts.pattern}}},
                          {"behavior", "Isolated"},
                          {"invert", false}},
                         byte_level_step}}}},
                     {"post_processor", byte_level_step},
                     {"decoder", byte_level_step},
                     {"model",
                      {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", ""},
                       {"end_of_word_suffix", ""},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", merges}}}};

  const ojson eos = opts.special_tokens.empty() ? ojson(nullptr) : ojson(opts.special_tokens[0]);
  ojson config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                  {"bos_token", nullptr},
                  {"eos_token", eos},
                  {"pad_token", eos},
                  {"unk_token", nullptr},
                  {"model_max_length", opts.model_max_length},
                  {"added_tokens_decoder", added_decoder},
                  {"clean_up_tokenization_spaces", false}};

  std::filesystem::path dir(out_dir);
  std::filesystem::create_directories(dir);
  write_atomically(dir / "tokenizer.json", tokenizer.dump(2) + "\n");
  write_atomically(dir / "tokenizer_config.json", config.dump(2) + "\n");
}

void train_bpe_tokenizer(const std::string& text, const BpeTrainerOptions& opts,
                         const std::string& out_dir) {
  save_bpe_tokenizer(train_bpe(text, opts), opts, out_dir);
}

}  // namespace purelm
