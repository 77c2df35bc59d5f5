#include <cstdio>
#include <filesystem>

#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/io/text_file.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::bench {

nlohmann::ordered_json bench_tokenizer(const std::string& tokenizer_dir,
                                       const std::string& text_path, double budget) {
  std::fprintf(stderr, "bench: tokenizer on %s\n", text_path.c_str());
  const Tokenizer tok = Tokenizer::load(tokenizer_dir);
  const std::string text = read_text_file(text_path);
  double t0 = now();
  size_t tokens = tok.encode(text).size();
  const double first = now() - t0;
  const double warm = best_seconds(budget, [&] { tokens = tok.encode(text).size(); });
  const double mb = double(text.size()) / 1e6;
  return {{"file", std::filesystem::path(text_path).filename().string()},
          {"mb", mb},
          {"tokens", tokens},
          {"mb_s_first", mb / first},
          {"mb_s", mb / warm},
          {"tok_s", double(tokens) / warm}};
}

}  // namespace purelm::bench
