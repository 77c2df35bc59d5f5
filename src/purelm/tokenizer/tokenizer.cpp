// Tokenizer: loading tokenizer.json and running the encode / decode pipelines.
#include "purelm/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/tokenizer/tokenizer_impl.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const json& section(const json& j, const char* key) {
  static const json null;
  auto it = j.find(key);
  return it == j.end() ? null : *it;
}

}  // namespace

Tokenizer::Impl::Impl(const json& j)
    : normalizer(tok::make_normalizer(section(j, "normalizer"))),
      pre_tokenizer(tok::make_pre_tokenizer(section(j, "pre_tokenizer"))),
      model(std::make_unique<tok::Bpe>(j.at("model"))),
      added(j.contains("added_tokens") ? j.at("added_tokens") : json::array(), normalizer.get()),
      post(tok::PostProcessor::from_json(section(j, "post_processor"))),
      decoder(tok::make_decoder(section(j, "decoder"))) {}

void Tokenizer::Impl::encode_plain(std::string_view text, bool at_start,
                                   std::vector<int32_t>& ids) const {
  if (!pre_tokenizer) return model->encode(text, ids);
  pre_tokenizer->split(text, at_start,
                       [&](std::string_view piece, bool) { model->encode(piece, ids); });
}

Tokenizer Tokenizer::load(const std::string& dir_or_file) {
  fs::path path(dir_or_file);
  if (fs::is_directory(path)) {
    path /= "tokenizer.json";
    check(fs::exists(path), "tokenizer: no tokenizer.json in ", dir_or_file);
  }
  check(fs::exists(path), "tokenizer: ", dir_or_file, " does not exist");
  std::string text = read_text_file(path.string());
  Tokenizer t;
  try {
    auto impl = std::make_shared<Impl>(json::parse(text));
    impl->config = read_tokenizer_config(path.parent_path().string());
    t.impl_ = std::move(impl);
  } catch (const json::exception& e) {
    fail(path.string(), ": ", e.what());
  } catch (const Error& e) {
    fail(path.string(), ": ", e.what());
  }
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  const Impl& m = *impl_;
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special) ids = m.post.before;
  std::string normalized;
  m.added.split(text, false, [&](std::string_view segment, size_t offset, int32_t id) {
    if (id >= 0) return ids.push_back(id);
    std::string_view s = segment;
    if (m.normalizer) {
      normalized.assign(segment);
      m.normalizer->normalize(normalized);
      s = normalized;
    }
    m.added.split(s, true, [&](std::string_view part, size_t part_offset, int32_t part_id) {
      if (part_id >= 0) return ids.push_back(part_id);
      m.encode_plain(part, offset == 0 && part_offset == 0, ids);
    });
  });
  if (add_special) ids.insert(ids.end(), m.post.after.begin(), m.post.after.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return decode(ids.data(), ids.size(), skip_special);
}

std::string Tokenizer::decode(const int32_t* ids, size_t n, bool skip_special) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (const auto* t = m.added.by_id(ids[i])) {
      if (!(skip_special && t->special)) tokens.push_back(t->content);
    } else if (const auto* s = m.model->id_to_token(ids[i])) {
      tokens.push_back(*s);
    }
  }
  if (!m.decoder) {  // HF joins the tokens with spaces when there is no decoder
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  m.decoder->decode(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return std::max(impl_->model->size(), impl_->added.end_id());  // added ids may extend the model's
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto* t = impl_->added.by_content(token)) return t->id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const auto* t = impl_->added.by_id(id)) return t->content;
  if (const auto* s = impl_->model->id_to_token(id)) return *s;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  const auto* t = impl_->added.by_id(id);
  return t && t->special;
}

const std::string& Tokenizer::bos_token() const { return impl_->config.bos_token; }
const std::string& Tokenizer::eos_token() const { return impl_->config.eos_token; }
const std::string& Tokenizer::pad_token() const { return impl_->config.pad_token; }
const std::string& Tokenizer::unk_token() const { return impl_->config.unk_token; }
const std::string& Tokenizer::chat_template() const { return impl_->config.chat_template; }

std::optional<int32_t> Tokenizer::bos_id() const {
  return bos_token().empty() ? std::nullopt : token_to_id(bos_token());
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return eos_token().empty() ? std::nullopt : token_to_id(eos_token());
}
std::optional<int32_t> Tokenizer::pad_id() const {
  return pad_token().empty() ? std::nullopt : token_to_id(pad_token());
}
std::optional<int32_t> Tokenizer::unk_id() const {
  return unk_token().empty() ? std::nullopt : token_to_id(unk_token());
}

}  // namespace purelm
