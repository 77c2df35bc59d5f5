// JSONL chat training data, rendered with Qwen3's chat template and tokenized by its tokenizer.
#include <memory>

#include "fuzz_util.h"
#include "purelm/train/chat_data.h"

namespace {

std::unique_ptr<purelm::Tokenizer> tokenizer;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer = std::make_unique<purelm::Tokenizer>(
      purelm::Tokenizer::load(std::string(PURELM_SHARED_DIR) + "/tokenizers/qwen3"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string jsonl(reinterpret_cast<const char*>(data), size);
  purelm::fuzz::expect_clear_error([&] {
    purelm::Dataset d = purelm::chat_dataset(jsonl, "fuzz.jsonl", *tokenizer, 0.25);
    // Every token carries its target flag.
    if (d.train.target.size() != d.train.tokens.size()) std::abort();
    if (d.val.target.size() != d.val.tokens.size()) std::abort();
    return d.val.tokens.size();
  });
  return 0;
}
