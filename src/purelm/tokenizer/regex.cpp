#define PCRE2_CODE_UNIT_WIDTH 8
#include "purelm/tokenizer/regex.h"

#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "purelm/core/error.h"

namespace purelm::tok {

namespace {

// Per-thread match state: pcre2 match data and JIT stacks may not be shared between threads.
struct MatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  // The default 32 KiB JIT stack is too small for some long inputs; 8 MiB covers anything sane.
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 << 10, 8 << 20, nullptr);
  MatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Regex::Regex(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!code) {
    fail("tokenizer regex /", std::string(pattern), "/: ", pcre2_message(err), " at offset ",
         static_cast<long>(offset));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // on failure pcre2_match interprets instead
  code_ =
      std::shared_ptr<void>(code, [](void* c) { pcre2_code_free(static_cast<pcre2_code*>(c)); });
}

void Regex::for_each_match(std::string_view s, MatchFn f) const {
  thread_local MatchState st;
  auto* code = static_cast<const pcre2_code*>(code_.get());
  auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  while (pos <= s.size()) {
    int rc = pcre2_match(code, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) fail("tokenizer regex: matching failed: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    if (ov[1] > ov[0]) {
      f(ov[0], ov[1]);
      pos = ov[1];
    } else {  // skip an empty match by one character, as Oniguruma's iterator does
      if (ov[0] >= s.size()) return;
      pos = ov[0] + utf8_len(static_cast<unsigned char>(s[ov[0]]));
    }
  }
}

Pattern Pattern::from_json(const nlohmann::json& j) {
  Pattern p;
  if (j.contains("Regex")) {
    p.regex_ = std::make_shared<const Regex>(j.at("Regex").get<std::string>());
  } else if (j.contains("String")) {
    p.literal_ = j.at("String").get<std::string>();
  } else {
    fail("pattern must be {\"String\": ...} or {\"Regex\": ...}, got ", j.dump());
  }
  return p;
}

void Pattern::for_each_match(std::string_view s, MatchFn f) const {
  if (regex_) return regex_->for_each_match(s, f);
  if (literal_.empty()) return;
  for (size_t pos = s.find(literal_); pos != std::string_view::npos;
       pos = s.find(literal_, pos + literal_.size())) {
    f(pos, pos + literal_.size());
  }
}

std::string Pattern::replace_all(std::string_view s, std::string_view with) const {
  std::string out;
  out.reserve(s.size());
  size_t prev = 0;
  for_each_match(s, [&](size_t start, size_t end) {
    out.append(s.substr(prev, start - prev));
    out.append(with);
    prev = end;
  });
  out.append(s.substr(prev));
  return out;
}

}  // namespace purelm::tok
