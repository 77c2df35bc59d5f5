#include "purelm/tokenizer/post_processor.h"

#include <nlohmann/json.hpp>
#include <string>

#include "purelm/core/error.h"
#include "purelm/tokenizer/token_id.h"

namespace purelm::tok {

PostProcessor PostProcessor::from_json(const nlohmann::json& j) {
  PostProcessor p;
  if (j.is_null()) return p;
  const std::string type = j.at("type").get<std::string>();
  if (type == "TemplateProcessing") {
    const auto& specials = j.at("special_tokens");
    bool seen_sequence = false;
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        check(!seen_sequence, "TemplateProcessing: the single template names $A twice");
        seen_sequence = true;
        continue;
      }
      auto name = item.at("SpecialToken").at("id").get<std::string>();
      check(specials.contains(name), "TemplateProcessing: special token \"", name, "\" has no ids");
      auto& side = seen_sequence ? p.after : p.before;
      for (const auto& id : specials.at(name).at("ids"))
        side.push_back(token_id(id, "post_processor special token"));
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    p.before.push_back(token_id(j.at("cls").at(1), "post_processor cls"));  // ["[CLS]", id]
    p.after.push_back(token_id(j.at("sep").at(1), "post_processor sep"));
  } else if (type == "Sequence") {
    for (const auto& part : j.at("processors")) {
      PostProcessor inner = from_json(part);
      p.before.insert(p.before.begin(), inner.before.begin(), inner.before.end());
      p.after.insert(p.after.end(), inner.after.begin(), inner.after.end());
    }
  } else if (type != "ByteLevel") {
    fail("unsupported post_processor type \"", type, "\"");
  }
  return p;
}

}  // namespace purelm::tok
