// tokenizer_config.json and chat_template.jinja: the special-token names and the chat template.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "purelm/core/error.h"
#include "purelm/tokenizer/tokenizer_impl.h"

namespace purelm {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A special token is written as "<s>", as {"content": "<s>", ...} (an AddedToken), or null.
std::string token_name(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_object()) return it->at("content").get<std::string>();
  return it->get<std::string>();
}

// A string, or a list of {"name", "template"} of which the "default" one is used.
std::string default_template(const json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const auto& e : t) {
      if (e.value("name", "") == "default") return e.at("template").get<std::string>();
    }
  }
  return "";
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::string& dir) {
  TokenizerConfig c;
  fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    try {
      json cfg = json::parse(read_text_file(cfg_path.string()));
      c.bos_token = token_name(cfg, "bos_token");
      c.eos_token = token_name(cfg, "eos_token");
      c.pad_token = token_name(cfg, "pad_token");
      c.unk_token = token_name(cfg, "unk_token");
      if (cfg.contains("chat_template"))
        c.chat_template = default_template(cfg.at("chat_template"));
    } catch (const json::exception& e) {
      fail(cfg_path.string(), ": ", e.what());
    }
  }
  // transformers saves the template in its own file nowadays; that file wins over the config.
  fs::path jinja = fs::path(dir) / "chat_template.jinja";
  if (fs::exists(jinja)) c.chat_template = read_text_file(jinja.string());
  return c;
}

}  // namespace purelm
