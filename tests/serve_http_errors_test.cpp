// purelm serve's answers to what it cannot serve: every bad input, a missing or wrong API key and a
// full queue get OpenAI error bodies, and the server keeps serving after them.

#include "serve_testing.h"

namespace purelm {
namespace {

TEST_F(StoriesServer, BadInputGetsOpenAIErrors) {
  const json hi = json::array({{{"role", "user"}, {"content", "hi"}}});
  expect_error(post(*s_, "/v1/completions", std::string("{\"prompt\": ")), 400, "invalid_json");
  expect_error(post(*s_, "/v1/completions", std::string("[1, 2]")), 400, "invalid_json");
  expect_error(post(*s_, "/v1/completions", std::string("{\"prompt\": \"a\xff\"}")), 400,
               "invalid_encoding");
  expect_error(post(*s_, "/v1/completions", json{{"prompt", "a"}, {"temperature", "hot"}}), 400,
               "invalid_type", "temperature");
  expect_error(post(*s_, "/v1/completions", json{{"prompt", "a"}, {"max_tokens", 0}}), 400,
               "invalid_value", "max_tokens");
  expect_error(post(*s_, "/v1/completions", json{{"prompt", "a"}, {"max_tokens", -3}}), 400,
               "invalid_value");
  expect_error(post(*s_, "/v1/completions", json{{"prompt", "a"}, {"stop", 3}}), 400,
               "invalid_type");
  expect_error(post(*s_, "/v1/completions", json{{"max_tokens", 3}}), 400,
               "missing_required_parameter", "prompt");
  expect_error(post(*s_, "/v1/chat/completions", json{{"max_tokens", 3}}), 400,
               "missing_required_parameter", "messages");
  expect_error(post(*s_, "/v1/chat/completions", json{{"messages", "hi"}}), 400, "invalid_type");
  expect_error(post(*s_, "/v1/chat/completions",
                    json{{"messages", json::array({{{"role", "wizard"}, {"content", "hi"}}})}}),
               400, "invalid_value", "wizard");
  expect_error(post(*s_, "/v1/chat/completions",
                    json{{"messages", hi}, {"logprobs", true}, {"top_logprobs", 50}}),
               400, "invalid_value", "top_logprobs");
  // stories260K has no chat template.
  expect_error(post(*s_, "/v1/chat/completions", json{{"messages", hi}}), 400, "no_chat_template");
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "Once upon a time ";
  expect_error(post(*s_, "/v1/completions", json{{"prompt", long_prompt}}), 400,
               "context_length_exceeded", "256");
  expect_error(post(*s_, "/v1/completions", json{{"prompt", std::string(100 << 10, 'a')}}), 413,
               "payload_too_large");
  expect_error(post(*s_, "/v1/nothing", json::object()), 404, "not_found");
  httplib::Client c = s_->client();
  auto get = c.Get("/v1/chat/completions");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  EXPECT_EQ(json::parse(get->body)["error"]["code"], "method_not_allowed");
  auto del = c.Delete("/health");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  // ...and the server still answers.
  EXPECT_EQ(post(*s_, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
}

TEST(ServeHttp, ApiKey) {
  server::ServerOptions so;
  so.api_key = "sesame";
  EngineOptions eo;
  eo.parallel = 1;
  eo.ctx_size = 64;
  TestServer s(kStories, so, eo);
  const json body = {{"prompt", "Once"}, {"max_tokens", 2}};
  expect_error(post(s, "/v1/completions", body.dump()), 401, "invalid_api_key");
  expect_error(post(s, "/v1/completions", body.dump(), {{"Authorization", "Bearer open"}}), 401,
               "invalid_api_key");
  EXPECT_EQ(post(s, "/v1/completions", body.dump(), {{"Authorization", "Bearer sesame"}}).status,
            200);
  httplib::Client c = s.client();
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/health")->status, 200);
}

// One slot and no queue: while a request holds the slot (the engine not yet started, so it stays
// there), the next gets 503 with an OpenAI error body; then both that request and new ones are
// served.
TEST(ServeHttp, FullQueueGets503AndTheServerKeepsServing) {
  EngineOptions eo;
  eo.parallel = 1;
  eo.ctx_size = 64;
  eo.queue_limit = 0;
  TestServer s(kStories, {}, eo, "", /*start=*/false);
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}};
  Reply first;
  std::thread t([&] { first = post(s, "/v1/completions", body); });
  ASSERT_TRUE(wait_for_metric(s, "purelm_queue_length 1"));
  expect_error(post(s, "/v1/completions", body), 503, "queue_full", "retry later");
  json streamed = body;
  streamed["stream"] = true;
  Stream st = post_stream(s, "/v1/completions", streamed);
  EXPECT_EQ(st.status, 503);
  s.start_engine();
  t.join();
  ASSERT_EQ(first.status, 200) << first.raw;
  Reply again = post(s, "/v1/completions", body);
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["choices"][0]["text"], first.body["choices"][0]["text"]);
}

}  // namespace
}  // namespace purelm
