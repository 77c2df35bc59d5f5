// purelm serve's HTTP front, in-process on an ephemeral port, driven with httplib's client: every
// endpoint streaming and not, every bad input, the API key, answers equal to `purelm generate`,
// 64 concurrent streams, a client that leaves, and a shutdown with streams running.
#include <httplib.h>
#include <malloc.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "bench/serve_load.h"
#include "purelm/sample/generation_config.h"
#include "purelm/serve/engine.h"
#include "purelm/server/server.h"
#include "testing.h"

namespace purelm {
namespace {

using json = nlohmann::ordered_json;
const std::string kStories = testing::shared("models/stories260K");

// A model, its engine and a server on a free port, answering until the object dies.
class TestServer {
 public:
  // `chat_template` replaces the model's, as --chat-template does. Without `start`, requests
  // queue until start_engine().
  TestServer(const std::string& dir, server::ServerOptions so = {}, EngineOptions eo = {},
             std::string chat_template = "", bool start = true)
      : model_(load_model(dir)), tok_(Tokenizer::load(dir)) {
    if (chat_template.empty()) chat_template = tok_.chat_template();
    if (!chat_template.empty()) tpl_.emplace(chat_template);
    std::vector<int64_t> tok_eos;
    if (tok_.eos_id()) tok_eos.push_back(*tok_.eos_id());
    GenerationDefaults d = generation_defaults(model_, tok_eos);
    eo.eos_ids = d.eos_ids;
    engine_.emplace(model_, tok_, eo);
    so.port = 0;
    so.model_name = "test-model";
    so.log_requests = false;
    so.http_threads = int(eo.parallel + eo.queue_limit + 4);
    server_.emplace(*engine_, tok_, tpl_ ? &*tpl_ : nullptr, d.sampler, so);
    port_ = server_->bind();
    if (start) engine_->start();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    return c;
  }
  const Tokenizer& tok() const { return tok_; }
  int port() const { return port_; }
  void stop() { server_->stop(); }
  void start_engine() { engine_->start(); }

 private:
  Model model_;
  Tokenizer tok_;
  std::optional<ChatTemplate> tpl_;
  std::optional<Engine> engine_;
  std::optional<server::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

struct Reply {
  int status = 0;
  json body;
  std::string raw;
};

Reply post(const TestServer& s, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}) {
  httplib::Client c = s.client();
  auto r = c.Post(path, headers, body, "application/json");
  if (!r) return {};
  Reply out{r->status, json::parse(r->body, nullptr, false), r->body};
  return out;
}
Reply post(const TestServer& s, const std::string& path, const json& body) {
  return post(s, path, body.dump());
}

// The events of a streamed response: each "data: ..." payload, [DONE] included as a string.
struct Stream {
  int status = 0;
  std::vector<json> chunks;
  bool done = false;  // ended with data: [DONE]
  std::string error;  // of the connection, if it failed
};

Stream post_stream(const TestServer& s, const std::string& path, const json& body,
                   size_t stop_after = SIZE_MAX) {
  httplib::Client c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  Stream st;
  std::string buf;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    for (size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
      std::string event = buf.substr(0, end);
      buf.erase(0, end + 2);
      EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
      std::string data = event.substr(6);
      if (data == "[DONE]")
        st.done = true;
      else
        st.chunks.push_back(json::parse(data));
    }
    return st.chunks.size() < stop_after;
  };
  httplib::Response res;
  httplib::Error err;
  if (!c.send(req, res, err)) st.error = httplib::to_string(err);
  st.status = res.status;
  return st;
}

std::string streamed_text(const Stream& st, bool chat) {
  std::string text;
  for (const json& c : st.chunks)
    if (!c["choices"].empty())
      text += chat ? c["choices"][0]["delta"].value("content", "")
                   : c["choices"][0]["text"].get<std::string>();
  return text;
}

class StoriesServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions so;
    so.max_body_bytes = 64 << 10;
    EngineOptions eo;
    eo.parallel = 4;
    eo.ctx_size = 256;
    eo.queue_limit = 64;
    s_ = new TestServer(kStories, so, eo);
  }
  static void TearDownTestSuite() {
    delete s_;
    s_ = nullptr;
  }
  static TestServer* s_;
};
TestServer* StoriesServer::s_ = nullptr;

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

void expect_error(const Reply& r, int status, const std::string& code,
                  const std::string& message_part = "") {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.raw;
  const json& e = r.body["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.raw;
  EXPECT_TRUE(e["type"].is_string()) << r.raw;
  EXPECT_EQ(e["code"], code) << r.raw;
  if (!message_part.empty()) {
    EXPECT_NE(e["message"].get<std::string>().find(message_part), std::string::npos) << r.raw;
  }
}

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

// The server's memory in bytes (it runs in this process): resident (/proc/self/statm) and the heap
// in use (glibc's count of allocated blocks, small and mmapped).
struct Memory {
  int64_t resident = 0, heap = 0;
};
Memory memory() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  const struct mallinfo2 mi = mallinfo2();
  return {resident * int64_t(sysconf(_SC_PAGESIZE)), int64_t(mi.uordblks + mi.hblkhd)};
}

// The load test: rounds of 64 clients streaming at once through 4 slots (the rest queue), each a
// seeded sampled request. Every request completes and each stream's text is exactly what the same
// request gives alone, not streamed: no token lost, repeated or taken from a neighbour. Memory
// stays flat after the warm-up round.
TEST_F(StoriesServer, SixtyFourConcurrentStreamsLoseNothingAndMemoryStaysFlat) {
  const std::vector<std::string> prompts = {
      "Once upon a time", "The cat",     "Lily wanted to",   "One day, a big",
      "Tom and Sue went", "The sun was", "There was a bird", "Max had a ball"};
  constexpr int kClients = 64;
  auto request = [&](int i) {
    return json{{"prompt", prompts[i % prompts.size()]},
                {"max_tokens", 8 + 5 * (i % 7)},
                {"temperature", 0.9},
                {"seed", 1000 + i}};
  };
  std::vector<std::string> alone(kClients);
  for (int i = 0; i < kClients; ++i) {
    Reply r = post(*s_, "/v1/completions", request(i));
    ASSERT_EQ(r.status, 200) << r.raw;
    alone[i] = r.body["choices"][0]["text"];
  }
  auto round = [&] {
    std::vector<Stream> streams(kClients);
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i)
      clients.emplace_back([&, i] {
        json body = request(i);
        body["stream"] = true;
        body["logprobs"] = 0;
        body["stream_options"] = {{"include_usage", true}};
        streams[i] = post_stream(*s_, "/v1/completions", body);
      });
    for (std::thread& t : clients) t.join();
    for (int i = 0; i < kClients; ++i) {
      const Stream& st = streams[i];
      ASSERT_EQ(st.status, 200) << i << " " << st.error;
      ASSERT_TRUE(st.done) << i;
      EXPECT_EQ(streamed_text(st, false), alone[i]) << i;
      size_t tokens = 0;
      for (const json& c : st.chunks)
        if (!c["choices"].empty() && !c["choices"][0]["logprobs"].is_null())
          tokens += c["choices"][0]["logprobs"]["tokens"].size();
      EXPECT_EQ(json(tokens), st.chunks.back()["usage"]["completion_tokens"]) << i;
    }
  };
  // Warm-up: the thread pools, malloc's arenas and caches reach their working size.
  round();
  round();
  const Memory warm = memory();
  Memory most = warm;
  for (int r = 0; r < 4; ++r) {
    round();
    const Memory now = memory();
    most = {std::max(most.resident, now.resident), std::max(most.heap, now.heap)};
  }
  std::printf(
      "after warm-up: resident %lld bytes, heap %lld; at most %lld and %lld after 4 more "
      "rounds\n",
      (long long)warm.resident, (long long)warm.heap, (long long)most.resident,
      (long long)most.heap);
  // 256 requests after the warm-up. Keeping any request's state would grow the heap in use by
  // 2.5 KB a request at least (a Job's sampler alone holds a 2.5 KB mt19937_64), 640 KB in all; the
  // bound is 384 KB (1.5 KB a request). What does grow is glibc's per-thread caches of freed
  // blocks (tcache, counted as in use): 130-160 KB over these rounds with the 72 HTTP threads,
  // filling more slowly each round, and 0 with GLIBC_TUNABLES=glibc.malloc.tcache_count=0. The
  // resident size also counts freed pages malloc keeps: 0.3-0.8 MB seen, 2 MB allowed. ASan keeps
  // freed memory in its quarantine and counts its own heap, so there only LeakSanitizer checks.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(most.heap - warm.heap, 384 << 10);
  EXPECT_LT(most.resident - warm.resident, 2 << 20);
#endif
}

// A client that leaves mid-stream frees its slot: the server goes back to no busy slot.
TEST_F(StoriesServer, DisconnectCancels) {
  Stream st =
      post_stream(*s_, "/v1/completions",
                  json{{"prompt", "Once upon a time"}, {"max_tokens", 200}, {"stream", true}}, 3);
  EXPECT_EQ(st.chunks.size(), 3u);
  EXPECT_FALSE(st.done);
  httplib::Client c = s_->client();
  bool idle = false;
  for (int i = 0; i < 600 && !idle; ++i) {  // up to a minute on a loaded host
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    idle = m->body.find("\npurelm_slots_busy 0\n") != std::string::npos &&
           m->body.find("\npurelm_requests_running 0\n") != std::string::npos;
    if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(idle);
}

// bench-serve's load against the server: every request completes and every figure is there.
TEST_F(StoriesServer, BenchServeLoad) {
  bench::ServeLoadOptions o;
  o.port = s_->port();
  o.clients = 6;
  o.requests = 12;
  o.prompt_tokens = 16;
  o.output_tokens = 24;
  o.seed = 5;
  nlohmann::ordered_json r = bench::serve_load(o);
  EXPECT_EQ(r["completed"], 12);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_GT(r["output_tokens"].get<int64_t>(), 12);
  for (const char* k : {"ttft_ms", "itl_ms", "tpot_ms"})
    for (const char* p : {"mean", "p50", "p90", "p99"})
      EXPECT_TRUE(r[k][p].is_number()) << k << " " << p;
  EXPECT_NE(bench::serve_load_table(r).find("inter-token"), std::string::npos);
}

// Polls /metrics until `line` (e.g. "purelm_queue_length 1") is there; false after a minute.
bool wait_for_metric(const TestServer& s, const std::string& line) {
  httplib::Client c = s.client();
  for (int i = 0; i < 600; ++i) {
    auto m = c.Get("/metrics");
    if (m && m->body.find("\n" + line + "\n") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
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

// A client that closes its connection while its request waits frees its place at once, streaming
// or not (before any byte is written to it): here the request waits in the queue (the engine not
// yet started) and leaves it; in a slot, the same cancel frees the slot at the next step.
TEST(ServeHttp, ClientThatLeavesFreesItsPlaceAtOnce) {
  EngineOptions eo;
  eo.parallel = 1;
  eo.ctx_size = 64;
  TestServer s(kStories, {}, eo, "", /*start=*/false);
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streaming" : "not streaming");
    httplib::Client c = s.client();
    std::thread t([&] {
      json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"stream", stream}};
      EXPECT_FALSE(c.Post("/v1/completions", body.dump(), "application/json"));
    });
    EXPECT_TRUE(wait_for_metric(s, "purelm_queue_length 1"));
    c.stop();  // closes the connection
    t.join();
    EXPECT_TRUE(wait_for_metric(s, "purelm_queue_length 0"));
    EXPECT_TRUE(
        wait_for_metric(s, "purelm_requests_finished_total " + std::string(stream ? "2" : "1")));
  }
  s.start_engine();
  EXPECT_EQ(post(s, "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
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

// Stopping the server while streams run ends them with an error chunk; nothing hangs.
TEST(ServeHttp, StopEndsStreamsWithAnError) {
  EngineOptions eo;
  eo.parallel = 2;
  eo.ctx_size = 512;
  TestServer s(kStories, {}, eo);
  std::vector<Stream> streams(3);
  std::vector<std::thread> clients;
  std::atomic<int> started{0};
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, i] {
      streams[i] = post_stream(s, "/v1/completions",
                               json{{"prompt", "Once upon a time"},
                                    {"max_tokens", 500},
                                    {"temperature", 0.8},
                                    {"stream", true}});
    });
  for (int i = 0; i < 600; ++i) {  // until all three are in and a token has been generated
    auto m = s.client().Get("/metrics");
    if (m && m->body.find("\npurelm_requests_total 3\n") != std::string::npos &&
        m->body.find("\npurelm_generated_tokens_total 0\n") == std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  s.stop();
  for (std::thread& t : clients) t.join();
  for (const Stream& st : streams) {
    ASSERT_FALSE(st.chunks.empty());
    EXPECT_FALSE(st.done);
    EXPECT_TRUE(st.chunks.back().contains("error")) << st.chunks.back().dump();
  }
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
