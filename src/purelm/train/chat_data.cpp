#include "purelm/train/chat_data.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace purelm {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int kMaxJsonDepth = 64;

struct Span {
  size_t begin, end;  // characters of the rendered text
};

std::string render(const Tokenizer& tok, const ChatTemplate& tmpl, const ojson& messages,
                   bool generation_prompt) {
  ojson ctx = {{"messages", messages},
               {"add_generation_prompt", generation_prompt},
               {"tools", nullptr},
               {"documents", nullptr}};
  // Like transformers: the tokenizer's special tokens that are set.
  for (auto [key, value] : {std::pair{"bos_token", &tok.bos_token()},
                            {"eos_token", &tok.eos_token()},
                            {"pad_token", &tok.pad_token()},
                            {"unk_token", &tok.unk_token()}})
    if (!value->empty()) ctx[key] = *value;
  return tmpl.render(ctx);
}

ojson head(const ojson& messages, size_t n) {
  return ojson(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(n));
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Tokens of `text`, those inside any span flagged as targets.
void append_example(const Tokenizer& tok, const std::string& text, const std::vector<Span>& spans,
                    TokenSplit& out) {
  std::vector<int32_t> ids = tok.encode(text, false);
  auto boundary = [&](size_t chars) {  // tokens wholly inside text[:chars], counted from the start
    if (chars >= text.size()) return ids.size();
    std::vector<int32_t> prefix = tok.encode(std::string_view(text).substr(0, chars), false);
    return size_t(std::mismatch(ids.begin(), ids.end(), prefix.begin(), prefix.end()).first -
                  ids.begin());
  };
  std::vector<uint8_t> target(ids.size(), 0);
  for (const Span& s : spans)
    std::fill(target.begin() + boundary(s.begin), target.begin() + boundary(s.end), 1);
  out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
  out.target.insert(out.target.end(), target.begin(), target.end());
}

}  // namespace

TokenSplit tokenize_conversation(const Tokenizer& tok, const ChatTemplate& tmpl,
                                 const ojson& messages) {
  check(messages.is_array() && !messages.empty(), "\"messages\" must be a non-empty list");
  const std::string whole = render(tok, tmpl, messages, false);
  std::vector<std::pair<std::string, Span>>
      turns;  // per assistant turn: render(messages[:i+1]), span
  bool incremental = true;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    check(m.is_object() && m.contains("role"), "message ", i, " has no \"role\"");
    if (m["role"] != "assistant") continue;
    std::string prompt = render(tok, tmpl, head(messages, i), true);
    std::string upto = render(tok, tmpl, head(messages, i + 1), false);
    check(starts_with(upto, prompt), "the chat template does not render assistant turn ", i,
          " as a continuation of its generation prompt");
    incremental = incremental && starts_with(whole, upto);
    turns.push_back({std::move(upto), Span{prompt.size(), 0}});
    turns.back().second.end = turns.back().first.size();
  }
  TokenSplit out;
  if (incremental) {
    std::vector<Span> spans;
    for (const auto& t : turns) spans.push_back(t.second);
    append_example(tok, whole, spans, out);
  } else {
    for (const auto& [text, span] : turns) append_example(tok, text, {span}, out);
  }
  return out;
}

Dataset chat_dataset(const std::string& jsonl, const std::string& origin, const Tokenizer& tok,
                     double val_fraction) {
  check(!tok.chat_template().empty(), origin,
        ": chat data needs a tokenizer with a chat template (tokenizer_config.json or "
        "chat_template.jinja)");
  ChatTemplate tmpl(tok.chat_template());
  std::vector<std::pair<int64_t, ojson>> conversations;  // (line number, messages)
  std::istringstream in(jsonl);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      // Deeper JSON than any conversation needs would exhaust the stack later (copies of it,
      // the template's values), and a line can be any length.
      ojson j = ojson::parse(line, [](int depth, ojson::parse_event_t, ojson&) {
        check(depth <= kMaxJsonDepth, "JSON nested more than ", kMaxJsonDepth, " deep");
        return true;
      });
      check(j.is_object() && j.contains("messages"), "expected an object with \"messages\"");
      conversations.push_back({n, std::move(j["messages"])});
    } catch (const std::exception& e) {
      fail(origin, ":", n, ": ", e.what());
    }
  }
  check(!conversations.empty(), origin, ": no conversations");
  size_t held = size_t(std::lround(double(conversations.size()) * val_fraction));
  if (val_fraction > 0 && conversations.size() >= 2)
    held = std::clamp<size_t>(held, 1, conversations.size() - 1);
  Dataset d;
  d.chat = true;
  for (size_t i = 0; i < conversations.size(); ++i) {
    TokenSplit c;
    try {
      c = tokenize_conversation(tok, tmpl, conversations[i].second);
    } catch (const std::exception& e) {
      fail(origin, ":", conversations[i].first, ": ", e.what());
    }
    TokenSplit& split = i + held < conversations.size() ? d.train : d.val;
    split.tokens.insert(split.tokens.end(), c.tokens.begin(), c.tokens.end());
    split.target.insert(split.target.end(), c.target.begin(), c.target.end());
  }
  return d;
}

}  // namespace purelm
