// Byte-level BPE trainer: learns merges from a text and writes a HuggingFace tokenizer.json that
// HF's `tokenizers` and purelm's Tokenizer both load.
//
// The pipeline is Qwen2/Qwen3's: NFC, the Qwen split regex, GPT-2's byte-to-unicode map, byte-level
// BPE with all 256 bytes in the base vocabulary (so any input encodes, nothing is unknown).
// Training reproduces HF's BpeTrainer: the most frequent pair wins; ties go to the pair whose
// (left, right) ids are smallest under HF's numbering (base symbols by code point of their
// byte-level character, then merged tokens in creation order); words merge left to right; training
// stops at vocab_size or when the best pair occurs fewer than min_frequency times.
//
// Id layout of the output: 0..255 the bytes in byte order, then the merged tokens in merge order,
// then the special tokens (tokenizer.json "added_tokens", special=true).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace purelm {

// Qwen2/Qwen3's pre-tokenizer split (tokenizer.json Split, behavior Isolated): contractions,
// letters with at most one leading non-letter, single digits, punctuation runs, newlines, spaces.
inline constexpr const char* kQwenSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct BpeTrainerOptions {
  int vocab_size = 1024;  // total: 256 bytes + merges + special tokens
  int min_frequency = 2;  // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = {"<|endoftext|>"};  // the first is eos and pad
  std::string pattern = kQwenSplitPattern;
  int model_max_length = 131072;  // tokenizer_config.json, as Qwen3's
  // Called after each merge with (merges done, merges wanted at most).
  std::function<void(int, int)> on_progress;
};

struct BpeModel {
  std::vector<std::string> tokens;                  // raw bytes of each id (specials excluded)
  std::vector<std::pair<int32_t, int32_t>> merges;  // (left id, right id), in training order
};

// Learns the merges of `text` (any bytes; invalid UTF-8 is replaced by U+FFFD as at encode time).
// Occurrences of special tokens in `text` are cut out, as the tokenizer does when encoding.
BpeModel train_bpe(const std::string& text, const BpeTrainerOptions& opts);

// Writes out_dir/tokenizer.json and out_dir/tokenizer_config.json (each atomically), creating
// out_dir if needed.
void save_bpe_tokenizer(const BpeModel& model, const BpeTrainerOptions& opts,
                        const std::string& out_dir);

void train_bpe_tokenizer(const std::string& text, const BpeTrainerOptions& opts,
                         const std::string& out_dir);

}  // namespace purelm
