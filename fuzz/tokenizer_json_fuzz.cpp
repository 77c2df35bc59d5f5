// Small tokenizer.json documents: loaded, then used on a fixed text and on every id.
#include "fuzz_util.h"
#include "purelm/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = purelm::fuzz::write_file("tokenizer.json", data, size);
  purelm::fuzz::expect_clear_error([&] {
    purelm::Tokenizer tok = purelm::Tokenizer::load(path);
    std::vector<int32_t> ids = tok.encode("Hello wörld 12 <s>\n\t ünï 😀 \xff!", true);
    tok.decode(ids, false);
    tok.decode(ids, true);
    std::vector<int32_t> all;  // every id (and a few past the end), as a sampler could produce
    for (int32_t id = -1; id <= std::min(tok.vocab_size(), 4096); ++id) all.push_back(id);
    tok.decode(all);
    purelm::StreamDecoder stream(tok);
    for (int32_t id : all) stream.step(id);
    stream.flush();
    return tok.chat_template().size();
  });
  return 0;
}
