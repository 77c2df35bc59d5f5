// purelm serve's endpoints, streaming and not: health, models, metrics, the chat page (also in a
// headless browser), tokenize, and completions and chat answers equal to `purelm generate`.
#include <filesystem>
#include <fstream>

#include "serve_testing.h"

namespace purelm {
namespace {

TEST_F(StoriesServer, HealthModelsAndMetrics) {
  httplib::Client c = s_->client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  json models = json::parse(m->body);
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "test-model");
  EXPECT_EQ(models["data"][0]["object"], "model");
  ASSERT_EQ(post(*s_, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}}).status, 200);
  auto met = c.Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_EQ(met->status, 200);
  for (const char* name :
       {"purelm_requests_total ", "purelm_queue_length ", "purelm_slots_busy ",
        "purelm_slots_total 4", "purelm_generated_tokens_total ",
        "purelm_time_to_first_token_seconds_bucket{le=\"+Inf\"} ",
        "purelm_inter_token_latency_seconds_count ", "purelm_http_responses_total{code=\"200\"} "})
    EXPECT_NE(met->body.find(name), std::string::npos) << name << "\n" << met->body;
}

TEST_F(StoriesServer, ChatPageIsServed) {
  auto r = s_->client().Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(r->body.find("/v1/chat/completions"), std::string::npos);
  EXPECT_EQ(r->body.find("://"), std::string::npos);  // no external resources
}

TEST_F(StoriesServer, CompletionEqualsGenerate) {
  const std::string prompt = "Once upon a time, there was a little dog";
  testing::RunResult g = testing::run_cli({"generate", "--model", kStories, "--prompt", prompt,
                                           "--max-tokens", "40", "--temperature", "0"});
  ASSERT_EQ(g.status, 0) << g.err;
  Reply r = post(*s_, "/v1/completions",
                 json{{"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "text_completion");
  EXPECT_EQ(r.body["choices"][0]["text"].get<std::string>() + "\n", g.out);
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 40);
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], s_->tok().encode(prompt).size());
  EXPECT_TRUE(r.body["usage"]["prompt_tokens_details"].contains("cached_tokens"));

  // The same prompt as token ids, and streamed: the same text, token by token.
  json ids = s_->tok().encode(prompt);
  Reply by_ids =
      post(*s_, "/v1/completions", json{{"prompt", ids}, {"max_tokens", 40}, {"temperature", 0}});
  ASSERT_EQ(by_ids.status, 200) << by_ids.raw;
  EXPECT_EQ(by_ids.body["choices"][0]["text"], r.body["choices"][0]["text"]);
  Stream st = post_stream(*s_, "/v1/completions",
                          json{{"prompt", prompt},
                               {"max_tokens", 40},
                               {"temperature", 0},
                               {"stream", true},
                               {"logprobs", 0},
                               {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(st.status, 200);
  ASSERT_TRUE(st.done);
  ASSERT_GE(st.chunks.size(), 3u);
  EXPECT_EQ(streamed_text(st, false), r.body["choices"][0]["text"]);
  const json& last = st.chunks[st.chunks.size() - 2];
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(st.chunks.back()["choices"].size(), 0u);
  EXPECT_EQ(st.chunks.back()["usage"]["completion_tokens"], 40);
  size_t tokens = 0;
  for (size_t i = 0; i + 1 < st.chunks.size(); ++i) {
    EXPECT_EQ(st.chunks[i]["object"], "text_completion");
    EXPECT_TRUE(st.chunks[i].contains("usage") && st.chunks[i]["usage"].is_null());
    const json& lp = st.chunks[i]["choices"][0]["logprobs"];
    if (!lp.is_null()) tokens += lp["tokens"].size();
  }
  EXPECT_EQ(tokens, 40u);
}

TEST_F(StoriesServer, StopStringsMaxTokensAndLogprobs) {
  Reply r = post(*s_, "/v1/completions",
                 json{{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200);
  const std::string full = r.body["choices"][0]["text"];
  const size_t cut = full.find(' ', 10);
  ASSERT_NE(cut, std::string::npos);
  const std::string stop = full.substr(cut, 3);
  Reply s = post(*s_, "/v1/completions",
                 json{{"prompt", "Once upon a time"},
                      {"max_tokens", 60},
                      {"temperature", 0},
                      {"stop", json::array({"no such text", stop})}});
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_EQ(s.body["choices"][0]["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(s.body["choices"][0]["finish_reason"], "stop");

  Reply lp = post(
      *s_, "/v1/completions",
      json{{"prompt", "Once upon a time"}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 3}});
  ASSERT_EQ(lp.status, 200) << lp.raw;
  const json& l = lp.body["choices"][0]["logprobs"];
  ASSERT_EQ(l["tokens"].size(), 5u);
  std::string joined;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(l["text_offset"][i], joined.size());
    joined += l["tokens"][i].get<std::string>();
    EXPECT_LE(l["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_EQ(l["top_logprobs"][i].size(), 3u);
  }
  EXPECT_EQ(joined, lp.body["choices"][0]["text"]);
}

TEST_F(StoriesServer, TokenizeAndDetokenize) {
  Reply t = post(*s_, "/tokenize", json{{"content", "Once upon a time"}});
  ASSERT_EQ(t.status, 200) << t.raw;
  EXPECT_EQ(t.body["tokens"], json(s_->tok().encode("Once upon a time", false)));
  Reply p = post(*s_, "/tokenize",
                 json{{"content", "Once"}, {"add_special", true}, {"with_pieces", true}});
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body["tokens"][0]["id"], *s_->tok().bos_id());
  Reply d = post(*s_, "/detokenize", json{{"tokens", t.body["tokens"]}});
  ASSERT_EQ(d.status, 200) << d.raw;
  EXPECT_EQ(d.body["content"], "Once upon a time");
}

// The chat page in Debian's chromium (headless, over the DevTools protocol): it loads, a question
// typed into it gets an answer that arrives in many updates. The screenshot goes to the build
// folder (the README's is docs/serve_chat_page.png).
TEST(ServeHttp, ChatPageInHeadlessChromium) {
  if (std::system("command -v chromium > /dev/null") != 0)
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  if (std::system("node --experimental-websocket --no-warnings -e 'new WebSocket(\"ws://0\")' "
                  "> /dev/null 2>&1") != 0)
    GTEST_SKIP() << "this Node has no WebSocket (Node >= 20.10 has it under "
                    "--experimental-websocket), which the page check talks to chromium with";
  EngineOptions eo;
  eo.parallel = 1;
  eo.ctx_size = 512;
  TestServer s(kStories, {}, eo,
               "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}");
  const std::string shot = std::string(PURELM_BUILD_DIR) + "/serve_chat_page.png";
  std::filesystem::remove(shot);
  testing::TempDir tmp;
  const std::string cmd =
      "node --experimental-websocket --no-warnings " + testing::repo("tests/serve_chat_page.mjs") +
      " http://127.0.0.1:" + std::to_string(s.port()) +
      "/ 'Once upon a time, there was a cat' 120 " + shot + " > " + tmp.path("out.json") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(tmp.path("out.json"));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  json j = json::parse(text, nullptr, false);
  ASSERT_TRUE(j.is_object()) << text;
  ASSERT_FALSE(j.contains("failure")) << text;
  EXPECT_EQ(j["title"], "purelm chat");
  EXPECT_EQ(j["model"], "test-model");
  EXPECT_EQ(j["question"], "Once upon a time, there was a cat");
  EXPECT_TRUE(j["error"].is_null()) << text;
  EXPECT_GT(j["answer"].get<std::string>().size(), 20u) << text;
  EXPECT_GT(j["updates"].get<int>(), 5) << text;  // streamed, not in one piece
  EXPECT_NE(j["stats"].get<std::string>().find("generated"), std::string::npos) << text;
  EXPECT_TRUE(std::filesystem::file_size(shot) > 1000);
}

// A Qwen3 shape with the Qwen3 tokenizer and its chat template (random weights).
class QwenServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    testing::RunResult r =
        testing::run_cli({"init", "--arch", "qwen3", "--preset", "tiny", "--tokenizer",
                          testing::shared("tokenizers/qwen3"), "--out", dir_->path("qwen")});
    ASSERT_EQ(r.status, 0) << r.err;
    EngineOptions eo;
    eo.parallel = 2;
    eo.ctx_size = 512;
    s_ = new TestServer(dir_->path("qwen"), {}, eo);
  }
  static void TearDownTestSuite() {
    delete s_;
    delete dir_;
  }
  static testing::TempDir* dir_;
  static TestServer* s_;
};
testing::TempDir* QwenServer::dir_ = nullptr;
TestServer* QwenServer::s_ = nullptr;

TEST_F(QwenServer, ChatEqualsGenerateOnTheRenderedPrompt) {
  const json messages =
      json::array({{{"role", "system"}, {"content", "Be brief."}},
                   {{"role", "user"},
                    {"content", json::array({{{"type", "text"}, {"text", "Hi"}},
                                             {{"type", "text"}, {"text", "there"}}})}}});
  const json kwargs = {{"enable_thinking", false}};
  Reply t =
      post(*s_, "/apply-template", json{{"messages", messages}, {"chat_template_kwargs", kwargs}});
  ASSERT_EQ(t.status, 200) << t.raw;
  const std::string prompt = t.body["prompt"];
  EXPECT_EQ(prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi\nthere<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  Reply thinking = post(*s_, "/apply-template", json{{"messages", messages}});
  EXPECT_EQ(thinking.body["prompt"].get<std::string>().find("<think>"), std::string::npos);

  testing::RunResult g =
      testing::run_cli({"generate", "--model", dir_->path("qwen"), "--prompt", prompt,
                        "--no-special", "--max-tokens", "12", "--temperature", "0"});
  ASSERT_EQ(g.status, 0) << g.err;
  const json req = {{"messages", messages},
                    {"chat_template_kwargs", kwargs},
                    {"max_completion_tokens", 12},
                    {"temperature", 0},
                    {"logprobs", true},
                    {"top_logprobs", 2}};
  Reply r = post(*s_, "/v1/chat/completions", req);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "chat.completion");
  const json& choice = r.body["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"].get<std::string>() + "\n", g.out);
  const size_t n = r.body["usage"]["completion_tokens"];
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], s_->tok().encode(prompt, false).size());
  ASSERT_EQ(choice["logprobs"]["content"].size(), n);
  for (const json& e : choice["logprobs"]["content"]) {
    ASSERT_EQ(e["top_logprobs"].size(), 2u);
    EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);  // greedy takes the most likely
    EXPECT_GE(e["top_logprobs"][0]["logprob"].get<double>(),
              e["top_logprobs"][1]["logprob"].get<double>());
  }

  json sreq = req;
  sreq["stream"] = true;
  sreq["stream_options"] = {{"include_usage", true}};
  Stream st = post_stream(*s_, "/v1/chat/completions", sreq);
  ASSERT_EQ(st.status, 200);
  ASSERT_TRUE(st.done);
  EXPECT_EQ(st.chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(st.chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(streamed_text(st, true), choice["message"]["content"]);
  const json& last = st.chunks[st.chunks.size() - 2];
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], choice["finish_reason"]);
  EXPECT_EQ(st.chunks.back()["usage"]["completion_tokens"], n);

  // The same conversation again reuses the cached prompt.
  Reply again = post(*s_, "/v1/chat/completions", req);
  ASSERT_EQ(again.status, 200);
  EXPECT_GT(again.body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(again.body["choices"][0]["message"]["content"], choice["message"]["content"]);
}

}  // namespace
}  // namespace purelm
