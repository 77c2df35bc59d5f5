// What the tests of purelm serve's HTTP front share: a server in-process on an ephemeral port,
// driven with httplib's client, and the stories260K server that most of them talk to.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "purelm/sample/generation_config.h"
#include "purelm/serve/engine.h"
#include "purelm/server/server.h"
#include "testing.h"

namespace purelm {

using json = nlohmann::ordered_json;
inline const std::string kStories = testing::shared("models/stories260K");

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

inline Reply post(const TestServer& s, const std::string& path, const std::string& body,
                  const httplib::Headers& headers = {}) {
  httplib::Client c = s.client();
  auto r = c.Post(path, headers, body, "application/json");
  if (!r) return {};
  Reply out{r->status, json::parse(r->body, nullptr, false), r->body};
  return out;
}

inline Reply post(const TestServer& s, const std::string& path, const json& body) {
  return post(s, path, body.dump());
}

// The events of a streamed response: each "data: ..." payload, [DONE] included as a string.
struct Stream {
  int status = 0;
  std::vector<json> chunks;
  bool done = false;  // ended with data: [DONE]
  std::string error;  // of the connection, if it failed
};

inline Stream post_stream(const TestServer& s, const std::string& path, const json& body,
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

inline std::string streamed_text(const Stream& st, bool chat) {
  std::string text;
  for (const json& c : st.chunks)
    if (!c["choices"].empty())
      text += chat ? c["choices"][0]["delta"].value("content", "")
                   : c["choices"][0]["text"].get<std::string>();
  return text;
}

inline void expect_error(const Reply& r, int status, const std::string& code,
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

// Polls /metrics until `line` (e.g. "purelm_queue_length 1") is there; false after a minute.
inline bool wait_for_metric(const TestServer& s, const std::string& line) {
  httplib::Client c = s.client();
  for (int i = 0; i < 600; ++i) {
    auto m = c.Get("/metrics");
    if (m && m->body.find("\n" + line + "\n") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// stories260K behind 4 slots, a queue of 64 and a 256-token context, shared by a suite's tests.
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
  inline static TestServer* s_ = nullptr;
};

}  // namespace purelm
