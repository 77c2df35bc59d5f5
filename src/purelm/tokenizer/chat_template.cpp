#include "purelm/tokenizer/chat_template.h"

#include "purelm/tokenizer/jinja/ast.h"
#include "purelm/tokenizer/jinja/interpreter.h"

namespace purelm {

struct ChatTemplate::Parsed {
  jinja::Body body;
};

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)), parsed_(new Parsed{jinja::parse(source_)}) {}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  return jinja::render(parsed_->body, context);
}

}  // namespace purelm
