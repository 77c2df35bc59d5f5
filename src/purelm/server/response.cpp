#include "purelm/server/response.h"

namespace purelm::server {

namespace {

json head(const ResponseHead& h, const char* object) {
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json nullable(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string token_text(const Tokenizer& tok, int32_t prev, int32_t id) {
  const int32_t pair[2] = {prev, id};
  const std::string both = tok.decode(pair, 2), before = tok.decode(&prev, 1);
  return both.compare(0, before.size(), before) == 0 ? both.substr(before.size())
                                                     : tok.decode(&id, 1);
}

// A token's text and its bytes (OpenAI sends both: a token may be part of a UTF-8 character).
json token_entry(const Tokenizer& tok, int32_t prev, int32_t id, float logprob) {
  std::string text = token_text(tok, prev, id);
  json bytes = json::array();
  for (unsigned char c : text) bytes.push_back(int(c));
  return {{"token", text}, {"logprob", logprob}, {"bytes", bytes}};
}

}  // namespace

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json chat_response(const ResponseHead& h, const std::string& text, const std::string& finish,
                   const Usage& u, json logprobs) {
  json r = head(h, "chat.completion");
  r["choices"] = json::array({{{"index", 0},
                               {"message", {{"role", "assistant"}, {"content", text}}},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", finish}}});
  r["usage"] = usage_json(u);
  return r;
}

json chat_chunk(const ResponseHead& h, json delta, const std::string& finish, json logprobs,
                bool include_usage) {
  json r = head(h, "chat.completion.chunk");
  r["choices"] = json::array({{{"index", 0},
                               {"delta", std::move(delta)},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", nullable(finish)}}});
  if (include_usage) r["usage"] = nullptr;
  return r;
}

json chat_logprobs(const Tokenizer& tok, int32_t prev, const std::vector<GeneratedToken>& tokens) {
  json content = json::array();
  for (const GeneratedToken& t : tokens) {
    json e = token_entry(tok, prev, t.id, t.logprob);
    json top = json::array();
    for (const TokenLogprob& a : t.top) top.push_back(token_entry(tok, prev, a.id, a.logprob));
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
    prev = t.id;
  }
  return {{"content", std::move(content)}};
}

json completion_response(const ResponseHead& h, const std::string& text, const std::string& finish,
                         const Usage& u, json logprobs) {
  json r = head(h, "text_completion");
  r["choices"] = json::array({{{"text", text},
                               {"index", 0},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", finish}}});
  r["usage"] = usage_json(u);
  return r;
}

json completion_chunk(const ResponseHead& h, const std::string& text, const std::string& finish,
                      json logprobs, bool include_usage) {
  json r = head(h, "text_completion");
  r["choices"] = json::array({{{"text", text},
                               {"index", 0},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", nullable(finish)}}});
  if (include_usage) r["usage"] = nullptr;
  return r;
}

json completion_logprobs(const Tokenizer& tok, int32_t prev,
                         const std::vector<GeneratedToken>& tokens, int64_t text_offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const GeneratedToken& t : tokens) {
    std::string text = token_text(tok, prev, t.id);
    toks.push_back(text);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const TokenLogprob& a : t.top) top[token_text(tok, prev, a.id)] = a.logprob;
    prev = t.id;
    tops.push_back(std::move(top));
    offs.push_back(text_offset);
    text_offset += int64_t(text.size());
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json usage_chunk(const ResponseHead& h, const char* object, const Usage& u) {
  json r = head(h, object);
  r["choices"] = json::array();
  r["usage"] = usage_json(u);
  return r;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

}  // namespace purelm::server
