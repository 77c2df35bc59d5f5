// Chat data for supervised fine-tuning: one conversation per line,
//   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
// rendered with the tokenizer's chat template, with only the assistant turns as targets.
//
// Assistant spans are found by rendering prefixes: the turn i starts where
// render(messages[:i], add_generation_prompt=true) ends and stops where render(messages[:i+1])
// ends, both being prefixes of the whole conversation's rendering for most templates. Templates
// that render earlier turns differently once later ones follow (Qwen3 drops the <think> block of
// earlier answers) fail that test; their conversations become one example per assistant turn,
// rendered exactly as the model sees it when generating that turn.
//
// Token boundaries come from the tokenizer itself: the whole text is encoded once, and a span
// [s, e) of characters covers the tokens past the common prefix of encode(text[:s]) and before
// that of encode(text[:e]).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "purelm/tokenizer/chat_template.h"
#include "purelm/train/data.h"

namespace purelm {

// The tokens of one conversation (messages: a JSON array), assistant tokens flagged as targets.
TokenSplit tokenize_conversation(const Tokenizer& tok, const ChatTemplate& tmpl,
                                 const nlohmann::ordered_json& messages);

// All conversations of a JSONL text (`origin` names it in errors), the last val_fraction of them
// held out.
Dataset chat_dataset(const std::string& jsonl, const std::string& origin, const Tokenizer& tok,
                     double val_fraction);

}  // namespace purelm
