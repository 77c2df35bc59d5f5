// Streaming generated text with stop strings, with Qwen3's real tokenizer: stop strings that span
// token boundaries or start inside a token, text held back while it may begin a stop string and
// released when it cannot, multi-byte characters split across tokens.
#include "purelm/sample/text_stream.h"

#include <utf8proc.h>

#include "testing.h"

namespace purelm {
namespace {

const Tokenizer& qwen() {
  static const Tokenizer tok = Tokenizer::load(testing::shared("tokenizers/qwen3"));
  return tok;
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(p + i, utf8proc_ssize_t(s.size() - i), &c);
    if (n <= 0) return false;
    i += size_t(n);
  }
  return true;
}

struct Streamed {
  std::string text;  // everything push() and finish() returned
  bool stopped = false;
};

// Streams the tokens of `text` one at a time. Every piece shown must be complete UTF-8 and
// extend what was shown before toward `expected`: nothing is ever taken back.
Streamed stream(const std::string& text, std::vector<std::string> stop,
                const std::string& expected) {
  const std::vector<int32_t> ids = qwen().encode(text, false);
  TextStream s(qwen(), std::move(stop));
  Streamed out;
  auto show = [&](const std::string& piece) {
    out.text += piece;
    EXPECT_EQ(expected.compare(0, out.text.size(), out.text), 0)
        << "shown \"" << out.text << "\", expected \"" << expected << "\"";
    EXPECT_TRUE(valid_utf8(piece)) << "incomplete UTF-8 in \"" << piece << "\"";
  };
  for (int32_t id : ids) show(s.push(id));
  out.stopped = s.stopped();
  show(s.finish());
  EXPECT_EQ(out.text, expected);
  return out;
}

// The number of tokens of `text` that the stop string's characters fall into.
size_t tokens_spanned(const std::string& text, const std::string& stop) {
  size_t begin = text.find(stop), end = begin + stop.size(), at = 0, n = 0;
  for (int32_t id : qwen().encode(text, false)) {
    size_t len = qwen().decode({id}).size();
    if (at < end && at + len > begin) ++n;
    at += len;
  }
  return n;
}

// One test per process loads the tokenizer, so the cases share two tests.
TEST(TextStream, StopStrings) {
  {
    SCOPED_TRACE("a stop string spanning three tokens");
    const std::string text = "The answer is 42.\nUser: and the next question?";
    ASSERT_GE(tokens_spanned(text, "\nUser:"), 3u);
    EXPECT_TRUE(stream(text, {"\nUser:"}, "The answer is 42.").stopped);
  }
  {
    SCOPED_TRACE("a stop string starting inside a token");
    const std::string text = "Hello world, and more.";
    ASSERT_GE(tokens_spanned(text, "lo wor"), 2u);
    EXPECT_TRUE(stream(text, {"lo wor"}, "Hel").stopped);
  }
  {
    // " wor" may begin "world!" until "ld?" shows it does not; at the end, "wor" is released
    // by finish().
    SCOPED_TRACE("held-back text is released");
    EXPECT_FALSE(stream("Hello world? Hello wor", {"world!"}, "Hello world? Hello wor").stopped);
  }
  {
    // Both stop strings lie in the one token " world": the text stops where the first one
    // begins, whatever their order in the list.
    SCOPED_TRACE("the earliest of several stop strings");
    ASSERT_EQ(tokens_spanned("Hello world", "wor"), 1u);
    EXPECT_TRUE(stream("Hello world", {"ld", "wor"}, "Hello ").stopped);
    EXPECT_TRUE(stream("Hello world", {"wor", "ld"}, "Hello ").stopped);
  }
}

TEST(TextStream, Text) {
  const std::string plain = "Hello world! The answer is 42.";
  EXPECT_FALSE(stream(plain, {}, plain).stopped);
  // The emoji and the CJK characters come as byte-level tokens that split their UTF-8.
  const std::string text = "你好😀世界, 🦀 crab";
  EXPECT_FALSE(stream(text, {"🐟"}, text).stopped);
  EXPECT_TRUE(stream(text, {"世界"}, "你好😀").stopped);
  EXPECT_TRUE(stream(text, {"🦀"}, "你好😀世界, ").stopped);
  // Special tokens are not shown; an empty stop string is ignored.
  TextStream s(qwen(), {"", "<|im_end|>"});
  std::string shown;
  for (int32_t id : qwen().encode("Hi<|im_end|>there", false)) shown += s.push(id);
  shown += s.finish();
  EXPECT_EQ(shown, "Hithere");
  EXPECT_FALSE(s.stopped());
}

}  // namespace
}  // namespace purelm
