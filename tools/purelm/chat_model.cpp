#include "purelm/chat_model.h"

#include <utility>
#include <vector>

#include "purelm/io/text_file.h"
#include "purelm/options.h"

namespace purelm::cli {

ChatKit load_chat_kit(const Model& m, const std::string& template_file) {
  Tokenizer tok = Tokenizer::load(m.dir);
  std::string source = template_file.empty() ? tok.chat_template() : read_text_file(template_file);
  std::vector<int64_t> tok_eos;
  if (tok.eos_id()) tok_eos.push_back(*tok.eos_id());
  GenerationDefaults d = generation_defaults(m, tok_eos);
  return {std::move(tok), std::move(source), std::move(d)};
}

ChatModel load_chat_model(const std::string& spec, const std::string& dtype,
                          const std::string& quant, const std::string& template_file) {
  Model m = load_inference_model(spec, parse_compute_dtype(dtype), quant);
  ChatKit kit = load_chat_kit(m, template_file);
  return {std::move(kit), std::move(m)};
}

}  // namespace purelm::cli
