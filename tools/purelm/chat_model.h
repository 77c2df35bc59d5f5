// What the commands that hold conversations (chat, serve) load.
#pragma once

#include <string>

#include "purelm/models/model.h"
#include "purelm/sample/generation_config.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

// What a conversation needs beside the model.
struct ChatKit {
  Tokenizer tok;
  std::string chat_template;    // --chat-template's file, else the tokenizer's; "" when it has none
  GenerationDefaults defaults;  // generation_config.json, with the tokenizer's EOS
};

struct ChatModel : ChatKit {
  Model model;
};

// The tokenizer, chat template and generation defaults of a loaded model (e.g. a mesh's).
ChatKit load_chat_kit(const Model& m, const std::string& template_file);

// The model for inference (activations in `dtype`, quantized as --quant says), its tokenizer, its
// chat template and its generation defaults.
ChatModel load_chat_model(const std::string& spec, const std::string& dtype,
                          const std::string& quant, const std::string& template_file);

}  // namespace purelm::cli
