// The client side of server-sent events (bench/sse.h) against the HTML standard's rules, with the
// stream cut at every byte.
#include "bench/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace purelm {
namespace {

std::vector<std::string> events_in(const std::string& stream, size_t piece) {
  bench::SseReader r;
  std::vector<std::string> got;
  for (size_t at = 0; at < stream.size(); at += piece)
    EXPECT_TRUE(r.feed(std::string_view(stream).substr(at, piece), [&](const std::string& d) {
      got.push_back(d);
      return true;
    }));
  return got;
}

TEST(Sse, EveryLineEndingCommentsAndFields) {
  const std::string stream =
      ": a comment, then an event over CRLF\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: message\nid: 7\ndata:no space\n\n"  // other fields are ignored; the space is optional
      "data: two\rdata: lines\r\r"                // bare CR ends lines too
      "retry: 10\n\n"                             // an event without data is no event
      "data\n\n"                                  // a field without a colon has an empty value
      "data: [DONE]\n\n"
      "data: not ended";
  const std::vector<std::string> want = {"{\"a\":1}", "no space", "two\nlines", "", "[DONE]"};
  for (size_t piece : {stream.size(), size_t(1), size_t(2), size_t(7)})
    EXPECT_EQ(events_in(stream, piece), want) << "in pieces of " << piece;
}

TEST(Sse, StopsWhenTheHandlerSaysSo) {
  bench::SseReader r;
  int calls = 0;
  EXPECT_FALSE(r.feed("data: 1\n\ndata: 2\n\n", [&](const std::string&) {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace purelm
