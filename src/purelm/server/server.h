// The OpenAI-compatible HTTP front over an Engine: routes, authentication, errors, streaming.
//
//   Engine engine(model, tok, {...});
//   engine.start();
//   Server server(engine, tok, &chat_template, defaults.sampler, {.port = 8080});
//   server.bind();
//   server.serve();   // until server.stop() (from another thread)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "purelm/sample/sampler.h"
#include "purelm/serve/engine.h"
#include "purelm/tokenizer/chat_template.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() says which)
  std::string api_key;              // non-empty: every route but /health and / needs it as a Bearer
  std::string model_name;           // what /v1/models and the responses call the model
  size_t max_body_bytes = 8 << 20;  // larger bodies get 413
  int http_threads = 16;            // connections served at once (each stream holds one)
  bool log_requests = true;         // one line per generation request on stderr
};

class Server {
 public:
  // The engine, tokenizer and template must outlive the server; `chat_template` may be null (a
  // base model): then the chat endpoints answer 400 and /v1/completions still works.
  // `defaults` are the checkpoint's sampling settings, for the fields a request leaves out.
  Server(Engine& engine, const Tokenizer& tok, const ChatTemplate* chat_template,
         SamplerConfig defaults, ServerOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int bind();    // binds host:port and returns the port; throws purelm::Error when it cannot
  void serve();  // answers requests until stop()
  // Ends running requests (their streams get an error chunk), then stops listening; serve()
  // returns. Safe from any thread, once or more.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace purelm::server
