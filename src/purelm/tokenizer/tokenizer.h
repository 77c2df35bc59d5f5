// Tokenizer: HuggingFace tokenizer.json read directly, encoding and decoding exactly as the
// HuggingFace `tokenizers` library does.
//
// Everything comes from the files, nothing is special-cased per model family:
//   tokenizer.json        added_tokens, normalizer, pre_tokenizer, model (BPE), post_processor,
//   decoder tokenizer_config.json bos/eos/pad/unk token names, chat_template (optional file)
//   chat_template.jinja   the chat template, preferred over tokenizer_config.json's (optional file)
//
// Encoding follows HF's pipeline: added tokens are cut out of the raw text first (leftmost-longest;
// tokens with normalized=false on the raw text, normalized=true ones on the normalized text between
// them; single_word/lstrip/rstrip honoured); each remaining segment is normalized, pre-tokenized
// and BPE-encoded; with add_special the post-processor's special tokens are placed around the
// result.
//
// Supported: model BPE (byte_fallback, unk_token/fuse_unk, ignore_merges,
// continuing_subword_prefix, end_of_word_suffix, merges as "a b" or ["a", "b"]); normalizers
// NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, Sequence; pre-tokenizers
// Split (String or Regex pattern, every behavior, invert), ByteLevel, Metaspace, Digits,
// Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence; post-processors
// TemplateProcessing, Bert/RobertaProcessing, ByteLevel, Sequence; decoders ByteLevel, Metaspace,
// Replace, ByteFallback, Fuse, Strip, BPEDecoder, Sequence. Anything else fails at load with a
// message naming the file and the unsupported type.
//
// Special tokens: the post-processor of tokenizer.json alone decides what add_special adds (as HF's
// fast tokenizers do); tokenizer_config.json's add_bos_token/add_eos_token are not consulted.
//
// Invalid UTF-8 input is defined behaviour: every maximal invalid byte sequence is replaced by
// U+FFFD before anything else (the rule of Python's errors="replace"), then encoded as that text.
// decode never fails: unknown ids are skipped and bytes that do not form UTF-8 become U+FFFD.
// Like HF, decode does not apply transformers' clean_up_tokenization_spaces.
//
// A Tokenizer is an immutable value with shared internals: cheap to copy, and safe to use from
// several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace purelm {

class Tokenizer {
 public:
  // `dir_or_file`: a folder holding tokenizer.json (and optionally tokenizer_config.json,
  // chat_template.jinja), or the path of a tokenizer.json whose folder holds the others.
  // Throws purelm::Error naming the file on anything missing, malformed or unsupported.
  static Tokenizer load(const std::string& dir_or_file);

  // add_special: add the post-processor's special tokens (HF's add_special_tokens). Special-token
  // text inside `text` (e.g. "<|im_end|>") is always encoded as that token.
  std::vector<int32_t> encode(std::string_view text, bool add_special = true) const;
  // skip_special: leave out tokens marked special in added_tokens (HF's skip_special_tokens).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  std::string decode(const int32_t* ids, size_t n, bool skip_special = false) const;

  int32_t vocab_size() const;  // largest id (model or added token) + 1
  std::optional<int32_t> token_to_id(std::string_view token) const;  // added tokens, then the model
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;

  // From tokenizer_config.json ("" / nullopt when absent or null).
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  const std::string& pad_token() const;
  const std::string& unk_token() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> unk_id() const;
  // The chat template (Jinja source; the "default" one when the config lists several), "" if none.
  const std::string& chat_template() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Incremental decoding for streaming generation: feed ids one at a time, get back only text that is
// final. Text is held back while it ends in an incomplete UTF-8 character (a byte-level or
// byte-fallback token carrying part of one) or in byte-fallback tokens at all (the bytes that
// follow can turn the whole run into U+FFFDs), and each step decodes with the previous token as
// context, so decoder rules that depend on position (SentencePiece's dropped leading space) apply
// only at the start of the sequence. The concatenation of all step() results and flush() equals
// decode() of all the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(Tokenizer tokenizer, bool skip_special = false);
  std::string step(int32_t id);  // the newly final text, possibly ""
  std::string flush();           // whatever is still held back (incomplete bytes as U+FFFD); resets
  void reset();

 private:
  Tokenizer tok_;
  bool skip_special_;
  std::vector<int32_t> ids_;  // context window: the ids since the last emitted boundary
  std::string prefix_;        // decode of ids_[0, prefix_len_): the text already emitted from them
  size_t prefix_len_ = 0;
};

}  // namespace purelm
