// Chat templates: renders the Jinja `chat_template` of a HuggingFace tokenizer_config.json (or a
// chat_template.jinja file) byte for byte as transformers' apply_chat_template does, i.e. as
// Jinja2 with trim_blocks, lstrip_blocks, loop controls, `raise_exception`, `strftime_now` and a
// `tojson` filter that does not escape non-ASCII.
//
//   ChatTemplate t(config["chat_template"].get<std::string>());
//   std::string prompt = t.render({{"messages", messages}, {"add_generation_prompt", true},
//                                  {"tools", nullptr}, {"documents", nullptr},
//                                  {"bos_token", "<s>"}, {"eos_token", "</s>"}});
//
// transformers passes messages, tools (None unless given), documents (None unless given),
// add_generation_prompt, the tokenizer's non-null special tokens and any extra keyword arguments
// (e.g. Qwen3's enable_thinking); `render` sees exactly the keys of its context object.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace purelm {

class ChatTemplate {
 public:
  // Parses once; a syntax error throws purelm::Error naming the line and column.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with the variables of `context` (a JSON object). Runtime errors, including the
  // template's own raise_exception(...), throw purelm::Error naming the line and column.
  std::string render(const nlohmann::ordered_json& context) const;

  const std::string& source() const { return source_; }

 private:
  struct Parsed;
  std::string source_;
  std::unique_ptr<const Parsed> parsed_;
};

}  // namespace purelm
