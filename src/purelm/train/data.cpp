#include "purelm/train/data.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "purelm/train/chat_data.h"
#include "purelm/train/rng.h"

namespace purelm {

namespace {

constexpr int kRedraws = 16;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TokenSplit encode_text(const Tokenizer& tok, std::string_view text) {
  TokenSplit s;
  if (text.empty()) return s;
  s.tokens = tok.encode(text, true);
  s.bytes = int64_t(text.size());
  return s;
}

}  // namespace

Dataset text_dataset(const std::string& text, const Tokenizer& tok, double val_fraction) {
  // Cut after the first newline past the split point, so no line (or character) is torn apart.
  size_t cut = text.size() - size_t(double(text.size()) * val_fraction);
  if (val_fraction > 0 && cut < text.size()) {
    size_t nl = text.rfind('\n', cut);
    if (nl != std::string::npos && nl > 0) cut = nl + 1;
    while (cut > 0 && cut < text.size() && (uint8_t(text[cut]) & 0xC0) == 0x80) --cut;
  }
  Dataset d;
  d.train = encode_text(tok, std::string_view(text).substr(0, cut));
  d.val = encode_text(tok, std::string_view(text).substr(cut));
  return d;
}

Dataset load_dataset(const std::string& path, const Tokenizer& tok, double val_fraction) {
  check(val_fraction >= 0 && val_fraction < 1, "--val-fraction must be in [0, 1)");
  std::string text = read_text_file(path);
  if (ends_with(path, ".jsonl")) return chat_dataset(text, path, tok, val_fraction);
  return text_dataset(text, tok, val_fraction);
}

Batch sample_batch(const TokenSplit& s, int64_t B, int64_t T, uint64_t seed, uint64_t stream,
                   uint64_t index) {
  const int64_t n = int64_t(s.tokens.size());
  check(n >= 2, "a data split needs at least 2 tokens, this one has ", n);
  const int64_t W = std::min(T + 1, n);  // window length
  std::vector<int32_t> ids(size_t(B * (W - 1))), targets(ids.size());
  Batch batch;
  for (int64_t b = 0; b < B; ++b) {
    int32_t* id = &ids[size_t(b * (W - 1))];
    int32_t* tg = &targets[size_t(b * (W - 1))];
    int64_t counted = 0;
    for (int attempt = 0; attempt < kRedraws && counted == 0; ++attempt) {
      uint64_t counter = (index * uint64_t(B) + uint64_t(b)) * kRedraws + uint64_t(attempt);
      int64_t start = int64_t(random_below(uint64_t(n - W + 1), seed, stream, counter));
      for (int64_t t = 0; t + 1 < W; ++t) {
        id[t] = s.tokens[size_t(start + t)];
        tg[t] = s.is_target(size_t(start + t + 1)) ? s.tokens[size_t(start + t + 1)] : -1;
        counted += tg[t] >= 0;
      }
    }
    batch.counted += counted;
  }
  batch.ids = Tensor::from_i32(ids, {B, W - 1});
  batch.targets = Tensor::from_i32(targets, {B, W - 1});
  return batch;
}

}  // namespace purelm
