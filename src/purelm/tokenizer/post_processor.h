// Post-processors: tokenizer.json's "post_processor" section, which adds special tokens around an
// encoded text (internal header).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace purelm::tok {

// For a single sequence every supported post-processor amounts to ids placed before and after it:
// TemplateProcessing's "single" template, Bert/Roberta's [CLS] ... [SEP], ByteLevel's nothing (it
// only trims offsets), and Sequence the nesting of its parts.
struct PostProcessor {
  std::vector<int32_t> before, after;
  static PostProcessor from_json(const nlohmann::json& j);  // null JSON: adds nothing
};

}  // namespace purelm::tok
