// What the fuzz targets (fuzz/, docs/fuzzing.md) found, and the caps on hostile input that keep
// them from finding more: each case is the input that failed (inline, or a file under
// tests/data/fuzz/) and the clear error or correct result it must now give.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io_testing.h"
#include "purelm/core/error.h"
#include "purelm/core/tensor.h"
#include "purelm/io/safetensors.h"
#include "purelm/server/api_error.h"
#include "purelm/server/request.h"
#include "purelm/tokenizer/chat_template.h"
#include "purelm/tokenizer/tokenizer.h"
#include "purelm/train/chat_data.h"

namespace purelm {
namespace {

using io_testing::error_of;
using io_testing::kShared;
using io_testing::TempDir;

std::string render(const std::string& source) {
  return ChatTemplate(source).render({{"messages", nlohmann::ordered_json::array()}});
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// A safetensors file of `header` and no data.
std::string safetensors(const TempDir& dir, const std::string& header) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = char(uint64_t(header.size()) >> (8 * i));
  io_testing::write_file(dir / "caps.safetensors", bytes + header);
  return (dir / "caps.safetensors").string();
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder sd(tok, skip_special);
  std::string out;
  for (int32_t id : ids) out += sd.step(id);
  return out + sd.flush();
}

// tokenize_fuzz: "et" "out" <0x19> <0xEB> of stories260K. The byte-fallback run "\x19" was emitted
// as final, then 0xEB made the whole run invalid UTF-8, which decode() spells as two U+FFFD.
TEST(FuzzRegression, StreamDecoderHoldsByteFallbackRuns) {
  const Tokenizer tok = Tokenizer::load((kShared / "models/stories260K").string());
  for (bool skip : {false, true}) {
    for (const std::vector<int32_t>& ids : std::vector<std::vector<int32_t>>{
             {316, 408, 28, 238},     // the finding
             {316, 28, 1, 238, 408},  // a skipped special token inside the run
             {28, 408, 28},           // a run that stays valid: "\x19" stays "\x19"
         }) {
      SCOPED_TRACE(::testing::PrintToString(ids) + (skip ? " skip_special" : ""));
      EXPECT_EQ(streamed(tok, ids, skip), tok.decode(ids, skip));
    }
  }
  EXPECT_EQ(tok.decode({316, 408, 28, 238}), "etout\xEF\xBF\xBD\xEF\xBF\xBD");
}

// safetensors_index_fuzz (its setup): an empty vector's data() may be null, and memcpy from null
// is undefined even for 0 bytes.
TEST(FuzzRegression, EmptyTensorsFromEmptyVectors) {
  EXPECT_EQ(Tensor::from_i32({}, {0}).numel(), 0);
  EXPECT_EQ(Tensor::from_f32({}, {2, 0}).numel(), 0);
}

// jinja_expr_fuzz: map(attribute='@loop.77777777777777777777...') read the digits with std::stoll,
// whose out_of_range escaped as no purelm::Error. Jinja2 makes any run of digits an int (Python's
// are unbounded): past int64 it is past the end of any list, an undefined item; str.format refuses
// such an index. Expected values from Jinja2 3.1.
TEST(FuzzRegression, IndexDigitsPastInt64) {
  EXPECT_EQ(render("{{ [[1, 2]] | map(attribute='99999999999999999999') | map('default', 'none') "
                   "| list }}"),
            "['none']");
  EXPECT_EQ(render("{{ [[1, 2]] | map(attribute='1') | list }}"), "[2]");
  EXPECT_HAS(error_of([] { render("{{ '{0[99999999999999999999]}'.format([1]) }}"); }),
             "Too many decimal digits in format string");
  EXPECT_HAS(error_of([] { render("{{ '{99999999999999999999}'.format(1) }}"); }),
             "Too many decimal digits in format string");
  EXPECT_EQ(render("{{ '{0[1]}'.format([1, 2]) }}"), "2");
}

// Caps a hostile chat template cannot get around (downloaded templates are untrusted code).
TEST(FuzzRegression, TemplateWorkIsBounded) {
  EXPECT_HAS(error_of([] {
               render(
                   "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
                   "{% endfor %}");
             }),
             "runs too long: more than 1000000 statements");
  EXPECT_HAS(error_of([] {
               render(
                   "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
                   "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}");
             }),
             "builds too much text: more than 64 MiB");
  EXPECT_HAS(error_of([] { render("{{ 'ab' * 9223372036854775807 }}"); }), "too much text");
  EXPECT_HAS(error_of([] { render("{{ ([0] * 100000000) | length }}"); }), "too much text");
  // jinja_expr_fuzz: one list held many times over is few values but a huge repr (took 33 s).
  EXPECT_HAS(error_of([] { render("{{ [24*[24*442*[4*4] ] * + 288] * 2 }}"); }), "too much text");
  EXPECT_HAS(error_of([] { render("{{ {'a': [[0] * 10000] * 10000} }}"); }), "too much text");
  EXPECT_HAS(error_of([] { render("{% for i in range(100000) %}{{ 'x' * 5000 }}{% endfor %}"); }),
             "too much text");
  // Work within the caps still renders, and every render starts with a full budget.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(render("{% for a in range(300) %}{% for b in range(300) %}{% endfor %}{% endfor %}"
                     "{{ ('ab' * 1000000) | length }}"),
              "2000000");
}

TEST(FuzzRegression, TemplateNestingIsBounded) {
  EXPECT_HAS(error_of([] { render(repeat("{% if 1 %}", 300) + repeat("{% endif %}", 300)); }),
             "blocks nested too deeply");
  EXPECT_HAS(error_of([] { render("{{ " + repeat("(", 300) + "1" + repeat(")", 300) + " }}"); }),
             "nested too deeply");
  EXPECT_EQ(render(repeat("{% if 1 %}", 150) + "x" + repeat("{% endif %}", 150)), "x");
}

// chat_template_fuzz: a list wrapped in itself 100000 times overflowed the stack when printed
// and freed; so did a deep context document.
TEST(FuzzRegression, TemplateValuesNestAtMost200Deep) {
  EXPECT_HAS(error_of([] {
               render(
                   "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}"
                   "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}");
             }),
             "lists and dicts nested more than 200 deep");
  EXPECT_EQ(render("{% set ns = namespace(x=[]) %}{% for i in range(150) %}{% set ns.x = [ns.x] "
                   "%}{% endfor %}{{ ns.x | tojson | length }}"),
            "302");
  // Deep enough for the cap, shallow enough for the test's own copies of it to recurse safely.
  const auto deep = nlohmann::ordered_json::parse(repeat("[", 1000) + repeat("]", 1000));
  EXPECT_HAS(error_of([&] {
               ChatTemplate("{{ messages }}").render({{"messages", deep}});
             }),
             "chat template context: lists and dicts nested more than 200 deep");
}

// A server request nesting JSON deeper than any real one is a 400 while parsing, before anything
// copies it (the copies recurse: 100000 levels overflowed the stack under AddressSanitizer).
TEST(FuzzRegression, RequestBodyDepthIsBounded) {
  const std::string deep = "{\"messages\": " + repeat("[", 100000) + repeat("]", 100000) + "}";
  try {
    server::parse_body(deep);
    ADD_FAILURE() << "a 100000-deep body was accepted";
  } catch (const server::ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("nests JSON more than 64 levels deep"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server::parse_body(R"({"messages": [{"content": [{"type": "text"}]}]})").size(), 1u);
}

// Found while writing server_request_fuzz: a repetition_penalty beyond a float's range (1e300) was
// converted to float, undefined behaviour; it is a 400 now, and the largest float still passes.
TEST(FuzzRegression, RepetitionPenaltyFitsAFloat) {
  try {
    server::parse_completion(server::parse_body(R"({"prompt": "a", "repetition_penalty": 1e300})"));
    ADD_FAILURE() << "repetition_penalty 1e300 was accepted";
  } catch (const server::ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "repetition_penalty");
  }
  const server::CompletionRequest r = server::parse_completion(
      server::parse_body(R"({"prompt": "a", "repetition_penalty": 3.4028234663852886e38})"));
  EXPECT_EQ(*r.sampling.repetition_penalty, std::numeric_limits<float>::max());
}

// tokenizer_json_fuzz: a token id that is a float or out of int32 range was converted by
// nlohmann's get<int32_t>() (undefined behaviour); ids are integers in [0, 2^24).
TEST(FuzzRegression, TokenIdsAreCheckedIntegers) {
  TempDir dir;
  for (const std::string id : {"1e30", "4294967296", "2.5", "-1", "16777216"}) {
    io_testing::write_file(
        dir / "tokenizer.json",
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": )" + id + R"(}, "merges": []}})");
    EXPECT_HAS(error_of([&] { Tokenizer::load((dir / "tokenizer.json").string()); }), "token id")
        << id;
  }
}

// chat_data_fuzz: JSONL lines are parsed with a depth limit, since later copies of a deep
// document recurse.
TEST(FuzzRegression, ChatDataJsonDepthIsBounded) {
  const Tokenizer tok = Tokenizer::load((kShared / "tokenizers/olmo2").string());
  const std::string ok = R"({"messages": [{"role": "user", "content": "hi"}]})";
  const std::string deep = R"({"messages": [{"role": "user", "content": )" + repeat("[", 100000) +
                           repeat("]", 100000) + "}]}";
  EXPECT_HAS(error_of([&] { chat_dataset(ok + "\n" + deep + "\n", "deep.jsonl", tok, 0); }),
             "deep.jsonl:2: JSON nested more than 64 deep");
}

TEST(FuzzRegression, SafetensorsTensorCountAndRankAreBounded) {
  TempDir dir;
  std::string many = "{";
  for (int i = 0; i <= 200000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  EXPECT_HAS(error_of([&] { SafetensorsFile::open(safetensors(dir, many + "}")); }),
             "header lists 200001 entries, more than the limit of 200000 tensors");
  const std::string msg = error_of([&] {
    SafetensorsFile::open(safetensors(
        dir, R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})"));
  });
  EXPECT_HAS(msg, "tensor 'w'");
  EXPECT_HAS(msg, "shape has 9 dimensions, more than the limit of 8");
}

}  // namespace
}  // namespace purelm
