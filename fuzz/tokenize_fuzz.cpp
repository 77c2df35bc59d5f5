// Arbitrary bytes encoded and decoded by the real tokenizers of ../shared (byte-level BPE with
// regex splits: Qwen3, Llama 3; SentencePiece-style with byte fallback: stories260K), and the
// same bytes read as token ids for decode and the streaming decoder.
#include "fuzz_util.h"
#include "purelm/tokenizer/tokenizer.h"

namespace {

std::vector<purelm::Tokenizer>& tokenizers() {
  static std::vector<purelm::Tokenizer> t;
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string shared = PURELM_SHARED_DIR;
  for (const char* dir : {"/tokenizers/qwen3", "/tokenizers/llama3", "/models/stories260K"})
    tokenizers().push_back(purelm::Tokenizer::load(shared + dir));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const purelm::Tokenizer& tok = tokenizers()[mode % tokenizers().size()];
  const bool add_special = mode & 4, skip_special = mode & 8;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<int32_t> ids = tok.encode(text, add_special);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) std::abort();
  tok.decode(ids, skip_special);

  // The bytes as ids (three bytes each, a few past the vocabulary and negative ones included).
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 2 < text.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(text[i])) | uint32_t(uint8_t(text[i + 1])) << 8 |
                       uint32_t(uint8_t(text[i + 2])) << 16;
    raw.push_back(int32_t(v % uint32_t(tok.vocab_size() + 8)) - 4);
  }
  const std::string whole = tok.decode(raw, skip_special);
  // The streamed pieces add up to decode() of the same ids (stream_decoder.cpp's promise).
  purelm::StreamDecoder stream(tok, skip_special);
  std::string streamed;
  for (int32_t id : raw) streamed += stream.step(id);
  streamed += stream.flush();
  if (streamed != whole) {
    std::fprintf(stderr, "streamed \"%s\" != decoded \"%s\"; ids:", streamed.c_str(),
                 whole.c_str());
    for (int32_t id : raw) std::fprintf(stderr, " %d", id);
    std::fprintf(stderr, "\n");
    std::abort();
  }
  return 0;
}
