// What the commands that hold conversations (chat, serve) load.
#pragma once

#include <string>

#include "purelm/models/model.h"
#include "purelm/sample/generation_config.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

struct ChatModel {
  Model model;
  Tokenizer tok;
  std::string chat_template;    // --chat-template's file, else the tokenizer's; "" when it has none
  GenerationDefaults defaults;  // generation_config.json, with the tokenizer's EOS
};

// The model for inference (activations in `dtype`, quantized as --quant says), its tokenizer, its
// chat template and its generation defaults.
ChatModel load_chat_model(const std::string& spec, const std::string& dtype,
                          const std::string& quant, const std::string& template_file);

}  // namespace purelm::cli
