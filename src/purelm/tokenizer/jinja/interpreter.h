// Runs a parsed template (internal header).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "purelm/tokenizer/jinja/ast.h"

namespace purelm::jinja {

// Renders `body` with the variables of `context` (a JSON object). Errors throw purelm::Error with
// the template line and column.
std::string render(const Body& body, const nlohmann::ordered_json& context);

}  // namespace purelm::jinja
