#include "purelm/server/request.h"

#include <cmath>
#include <limits>

#include "purelm/server/api_error.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm::server {

namespace {

const char* type_name(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

ApiError wrong_type(const std::string& name, const char* want, const json& v) {
  return invalid(name, "'" + name + "' must be " + want + ", not " + type_name(v), "invalid_type");
}

// The field `name` of `body`, or nullptr when absent or null (OpenAI treats both as "not given").
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number(const json& body, const char* name, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(name, "a number", *v);
  double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    throw invalid(name, "'" + std::string(name) + "' must be between " + json(lo).dump() + " and " +
                            json(hi).dump() + ", got " + v->dump());
  return x;
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  // 5.0 is an integer to a JavaScript client.
  if (!v->is_number() ||
      (v->is_number_float() &&
       !(std::floor(v->get<double>()) == v->get<double>() && std::fabs(v->get<double>()) < 9e18)))
    throw wrong_type(name, "an integer", *v);
  int64_t x = v->is_number_float()      ? int64_t(v->get<double>())
              : v->is_number_unsigned() ? int64_t(std::min<uint64_t>(v->get<uint64_t>(), INT64_MAX))
                                        : v->get<int64_t>();
  if (x < lo || x > hi)
    throw invalid(name, "'" + std::string(name) + "' must be " +
                            (hi == INT64_MAX
                                 ? "at least " + std::to_string(lo)
                                 : "between " + std::to_string(lo) + " and " + std::to_string(hi)) +
                            ", got " + v->dump());
  return x;
}

bool boolean(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return false;
  if (!v->is_boolean()) throw wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<float> to_float(std::optional<double> x) {
  return x ? std::optional<float>(float(*x)) : std::nullopt;
}

// The fields chat and completions share.
void parse_generation(const json& body, GenerationRequest& r) {
  if (const json* n = field(body, "n"); n && !(n->is_number_integer() && *n == 1))
    throw invalid("n", "only n = 1 is supported (one choice per request)");
  r.max_tokens = integer(body, "max_completion_tokens", 1, INT64_MAX);
  if (!r.max_tokens) r.max_tokens = integer(body, "max_tokens", 1, INT64_MAX);
  SamplingRequest& s = r.sampling;
  s.temperature = to_float(number(body, "temperature", 0, 2));
  s.top_p = to_float(number(body, "top_p", 0, 1));
  s.min_p = to_float(number(body, "min_p", 0, 1));
  // A float holds it: a larger double would not convert (undefined behaviour).
  s.repetition_penalty =
      to_float(number(body, "repetition_penalty", 0, std::numeric_limits<float>::max()));
  if (s.repetition_penalty && *s.repetition_penalty <= 0)
    throw invalid("repetition_penalty", "'repetition_penalty' must be positive");
  s.top_k = integer(body, "top_k", 0, INT64_MAX);
  if (const json* v = field(body, "seed")) {
    if (!v->is_number_integer()) throw wrong_type("seed", "an integer", *v);
    s.seed = v->is_number_unsigned() ? v->get<uint64_t>() : uint64_t(v->get<int64_t>());
  }
  s.presence_penalty = float(number(body, "presence_penalty", -2, 2).value_or(0));
  s.frequency_penalty = float(number(body, "frequency_penalty", -2, 2).value_or(0));
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const json& x : *v) {
        if (!x.is_string()) throw wrong_type("stop", "a string or an array of strings", *v);
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      throw wrong_type("stop", "a string or an array of strings", *v);
    }
    for (const std::string& x : r.stop)
      if (x.empty()) throw invalid("stop", "'stop' strings must not be empty");
  }
  r.stream = boolean(body, "stream");
  if (const json* o = field(body, "stream_options")) {
    if (!o->is_object()) throw wrong_type("stream_options", "an object", *o);
    if (!r.stream)
      throw invalid("stream_options", "'stream_options' is only allowed with 'stream': true");
    r.include_usage = boolean(*o, "include_usage");
  }
}

std::string message_content(const json& m, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  const json* c = field(m, "content");
  if (!c) return "";  // an assistant turn with tool_calls only
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) throw wrong_type(where, "a string or an array of content parts", *c);
  std::string text;
  for (const json& part : *c) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw invalid(where, "each part of '" + where + "' must be an object with a 'type'");
    if (part["type"] != "text")
      throw invalid(where, "content part type '" + part["type"].get<std::string>() +
                               "' is not supported: this model reads text parts only");
    if (!part.contains("text") || !part["text"].is_string())
      throw invalid(where, "a text part of '" + where + "' needs 'text' as a string");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

json parse_body(const std::string& body) {
  if (!tok::is_valid_utf8(body))
    throw ApiError(400, "invalid_encoding", "the request body is not valid UTF-8");
  // A request nests a few levels; a much deeper one would recurse without bound wherever its
  // values are copied (the chat template's context), so it is refused while parsing.
  constexpr int kMaxDepth = 64;
  const auto depth_cap = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth)
      throw ApiError(
          400, "invalid_json",
          "the request body nests JSON more than " + std::to_string(kMaxDepth) + " levels deep");
    return true;
  };
  json j = json::parse(body, depth_cap, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw ApiError(400, "invalid_json",
                   "the request body is not valid JSON (send a JSON object with Content-Type: "
                   "application/json)");
  if (!j.is_object())
    throw ApiError(400, "invalid_json",
                   std::string("the request body must be a JSON object, not ") + type_name(j));
  return j;
}

json parse_messages(const json& body) {
  const json* ms = field(body, "messages");
  if (!ms) throw invalid("messages", "'messages' is required", "missing_required_parameter");
  if (!ms->is_array()) throw wrong_type("messages", "an array", *ms);
  if (ms->empty()) throw invalid("messages", "'messages' must hold at least one message");
  json out = json::array();
  for (size_t i = 0; i < ms->size(); ++i) {
    const json& m = (*ms)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw wrong_type(where, "an object", m);
    const json* role = field(m, "role");
    if (!role) throw invalid(where + ".role", "'" + where + ".role' is required");
    if (!role->is_string()) throw wrong_type(where + ".role", "a string", *role);
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name; templates know "system"
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      throw invalid(where + ".role", "unknown role '" + role->get<std::string>() +
                                         "' (expected system, user, assistant or tool)");
    json msg = m;
    msg["role"] = r;
    msg["content"] = message_content(m, i);
    out.push_back(std::move(msg));
  }
  return out;
}

ChatRequest parse_chat(const json& body) {
  ChatRequest r;
  r.messages = parse_messages(body);
  parse_generation(body, r);
  r.logprobs = boolean(body, "logprobs");
  if (auto k = integer(body, "top_logprobs", 0, 20)) {
    if (!r.logprobs) throw invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.top_logprobs = int(*k);
  }
  r.template_kwargs = json::object();
  if (const json* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) throw wrong_type("chat_template_kwargs", "an object", *kw);
    r.template_kwargs = *kw;
  }
  if (const json* tools = field(body, "tools")) {
    if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
    r.template_kwargs["tools"] = *tools;
  }
  return r;
}

CompletionRequest parse_completion(const json& body) {
  CompletionRequest r;
  const json* p = field(body, "prompt");
  if (!p) throw invalid("prompt", "'prompt' is required", "missing_required_parameter");
  // A prompt is a string or token ids; an array holding one of either is the same prompt.
  const json* one =
      p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array()) ? &(*p)[0] : p;
  if (one->is_string()) {
    r.prompt = one->get<std::string>();
  } else if (one->is_array() && !one->empty()) {
    std::vector<int32_t> ids;
    for (const json& x : *one) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
        throw invalid("prompt", "'prompt' as token ids must hold non-negative integers");
      ids.push_back(int32_t(x.get<int64_t>()));
    }
    r.prompt_ids = std::move(ids);
  } else if (p->is_array() && p->size() > 1) {
    throw invalid("prompt", "one prompt per request: send several prompts as several requests");
  } else {
    throw wrong_type("prompt", "a string or an array of token ids", *p);
  }
  parse_generation(body, r);
  if (boolean(body, "echo")) throw invalid("echo", "'echo' is not supported");
  if (auto k = integer(body, "logprobs", 0, 20)) {
    r.logprobs = true;
    r.top_logprobs = int(*k);
  }
  return r;
}

}  // namespace purelm::server
