#include "purelm/server/server.h"

#include <httplib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "purelm/server/api_error.h"
#include "purelm/server/chat_page.h"
#include "purelm/server/connection.h"
#include "purelm/server/metrics.h"
#include "purelm/server/request.h"
#include "purelm/server/response.h"

namespace purelm::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The routes and the methods each answers; other methods get 405, other paths 404.
const std::map<std::string, std::set<std::string>> kRoutes = {
    {"/", {"GET"}},
    {"/health", {"GET"}},
    {"/metrics", {"GET"}},
    {"/v1/models", {"GET"}},
    {"/v1/chat/completions", {"POST"}},
    {"/v1/completions", {"POST"}},
    {"/apply-template", {"POST"}},
    {"/tokenize", {"POST"}},
    {"/detokenize", {"POST"}},
};

// The HTTP side of one generation request: the engine's thread pushes its events here, the
// connection's thread takes them, and notices meanwhile when its client closes the connection.
// `gone` tells the engine the client has left.
struct Channel {
  std::mutex mu;
  std::deque<EngineEvent> events;
  bool gone = false;
  int wake = eventfd(0, EFD_CLOEXEC);

  Channel() { check(wake >= 0, "serve: cannot create an eventfd (too many open files?)"); }
  ~Channel() { ::close(wake); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  bool push(const EngineEvent& e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (gone) return false;
      events.push_back(e);
    }
    const uint64_t one = 1;
    return write(wake, &one, sizeof one) == sizeof one;
  }
  // The next event, or none once the client on socket `sock` (-1: unknown) has gone.
  std::optional<EngineEvent> pop(int sock) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!events.empty()) {
          EngineEvent e = std::move(events.front());
          events.pop_front();
          return e;
        }
      }
      if (!wait_for_event(wake, sock)) return std::nullopt;
    }
  }
  void leave() {
    std::lock_guard<std::mutex> lock(mu);
    gone = true;
  }
};

enum class Kind { Chat, Completion };

// One generation request from submission to its last byte.
struct Generation {
  Kind kind;
  ResponseHead head;
  bool stream = false, include_usage = false, logprobs = false;
  uint64_t engine_id = 0;
  int sock = -1;  // the client's connection
  std::shared_ptr<Channel> channel = std::make_shared<Channel>();
  Clock::time_point start = Clock::now();
  std::string text;
  std::vector<GeneratedToken> tokens;
  int64_t generated = 0;
  int32_t prev = 0;  // the token before the next one: the prompt's last, then the last generated
  bool role_sent = false;
  bool closed = false;  // a stream: its last chunk is written, or its client has gone
};

}  // namespace

struct Server::Impl {
  Engine& engine;
  const Tokenizer& tok;
  const ChatTemplate* tpl;
  SamplerConfig defaults;
  ServerOptions opt;
  httplib::Server http;
  HttpCounters counters;
  std::atomic<uint64_t> next_id{1};
  int64_t created = unix_now();
  std::once_flag stopped;
  // Streams not yet closed. httplib stops calling content providers once it stops, so stop()
  // waits for these to write their last (error) chunk first.
  std::mutex open_mu;
  std::condition_variable open_cv;
  int open_streams = 0;
  int listen_socket = -1;

  Impl(Engine& e, const Tokenizer& t, const ChatTemplate* c, SamplerConfig d, ServerOptions o)
      : engine(e), tok(t), tpl(c), defaults(d), opt(std::move(o)) {
    routes();
  }

  static void send_json(httplib::Response& res, const json& j, int status = 200) {
    res.status = status;
    res.set_content(dump(j), "application/json");
  }

  static void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(dump(error_body(e)), "application/json");
  }

  // Runs a handler, turning what it throws into an error response.
  template <class F>
  httplib::Server::Handler guarded(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, "internal_error", e.what()));
      }
    };
  }

  void routes() {
    http.set_payload_max_length(opt.max_body_bytes);
    // httplib listens with a backlog of 5: a burst of clients connecting at once overflows it and
    // some see their connection reset. bind() raises it; this keeps the socket to do so.
    http.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_socket = sock;
    });
    const size_t threads = size_t(std::max(opt.http_threads, 2));
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      auto it = kRoutes.find(req.path);
      if (it == kRoutes.end()) return httplib::Server::HandlerResponse::Unhandled;  // 404 below
      const bool head_of_get = req.method == "HEAD" && it->second.count("GET");
      if (!it->second.count(req.method) && !head_of_get) {
        res.set_header("Allow", *it->second.begin());
        send_error(res, ApiError(405, "method_not_allowed",
                                 req.method + " is not allowed on " + req.path + " (use " +
                                     *it->second.begin() + ")"));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!opt.api_key.empty() && req.path != "/health" && req.path != "/" &&
          req.get_header_value("Authorization") != "Bearer " + opt.api_key) {
        send_error(res, ApiError(401, "invalid_api_key",
                                 "a valid API key is required: send 'Authorization: Bearer KEY' "
                                 "with the key the server was started with (--api-key)"));
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Statuses httplib sets itself (404, 413, 400 for unparsable requests) get an OpenAI body.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404)
        send_error(res, ApiError(404, "not_found", "no route for " + req.method + " " + req.path));
      else if (res.status == 413)
        send_error(res, ApiError(413, "payload_too_large",
                                 "the request body is larger than the limit of " +
                                     std::to_string(opt.max_body_bytes) + " bytes"));
      else
        send_error(res, ApiError(res.status, "http_error",
                                 "the request could not be served (HTTP " +
                                     std::to_string(res.status) + ")"));
    });
    http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      counters.count(res.status);
    });

    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      std::string_view page = chat_page_html();
      res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
    });
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"status", "ok"}});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(engine.stats(), counters.snapshot()),
                      "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json model = {{"id", opt.model_name},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "purelm"},
                    {"meta", {{"n_ctx", engine.context_size()}, {"n_vocab", tok.vocab_size()}}}};
      send_json(res, {{"object", "list"}, {"data", json::array({model})}});
    });
    http.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
                json body = parse_body(req.body);
                if (!body.contains("content") || !body["content"].is_string())
                  throw invalid("content", "'content' is required, a string");
                const bool add_special = body.value("add_special", false);
                const bool with_pieces = body.value("with_pieces", false);
                std::vector<int32_t> ids =
                    tok.encode(body["content"].get<std::string>(), add_special);
                json tokens = json::array();
                for (int32_t id : ids)
                  tokens.push_back(with_pieces ? json{{"id", id}, {"piece", tok.decode(&id, 1)}}
                                               : json(id));
                send_json(res, {{"tokens", tokens}});
              }));
    http.Post("/detokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
                json body = parse_body(req.body);
                std::vector<int32_t> ids;
                if (!body.contains("tokens") || !body["tokens"].is_array())
                  throw invalid("tokens", "'tokens' is required, an array of token ids");
                for (const json& x : body["tokens"]) {
                  if (!x.is_number_integer() || x.get<int64_t>() < 0 ||
                      x.get<int64_t>() >= tok.vocab_size())
                    throw invalid("tokens", "'tokens' must hold token ids from 0 to " +
                                                std::to_string(tok.vocab_size() - 1));
                  ids.push_back(int32_t(x.get<int64_t>()));
                }
                send_json(res, {{"content", tok.decode(ids)}});
              }));
    http.Post("/apply-template",
              guarded([this](const httplib::Request& req, httplib::Response& res) {
                ChatRequest r = parse_chat(parse_body(req.body));
                send_json(res, {{"prompt", render(r)}});
              }));
    http.Post("/v1/chat/completions",
              guarded([this](const httplib::Request& req, httplib::Response& res) {
                ChatRequest r = parse_chat(parse_body(req.body));
                generate(Kind::Chat, r, tok.encode(render(r), /*add_special=*/false), req, res);
              }));
    http.Post(
        "/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
          CompletionRequest r = parse_completion(parse_body(req.body));
          std::vector<int32_t> ids;
          if (r.prompt_ids) {
            ids = *r.prompt_ids;
            for (int32_t id : ids)
              if (id >= tok.vocab_size())
                throw invalid("prompt", "token id " + std::to_string(id) +
                                            " is outside the vocabulary of " +
                                            std::to_string(tok.vocab_size()));
          } else {
            ids = tok.encode(r.prompt, /*add_special=*/true);  // as `purelm generate --prompt`
          }
          generate(Kind::Completion, r, std::move(ids), req, res);
        }));
  }

  std::string render(const ChatRequest& r) const {
    if (!tpl)
      throw ApiError(400, "no_chat_template",
                     "this model has no chat template: start the server with --chat-template "
                     "FILE, or send plain prompts to /v1/completions");
    json ctx = {{"messages", r.messages},       {"tools", nullptr},
                {"documents", nullptr},         {"add_generation_prompt", true},
                {"bos_token", tok.bos_token()}, {"eos_token", tok.eos_token()}};
    for (const auto& [k, v] : r.template_kwargs.items()) ctx[k] = v;
    try {
      return tpl->render(ctx);
    } catch (const Error& e) {
      throw ApiError(400, "chat_template_error",
                     std::string("the chat template rejected the messages: ") + e.what(),
                     "messages");
    }
  }

  SamplingParams sampling(const GenerationRequest& r) const {
    const SamplingRequest& s = r.sampling;
    SamplingParams p;
    p.temperature = s.temperature.value_or(defaults.temperature);
    p.top_k = s.top_k.value_or(defaults.top_k);
    p.top_p = s.top_p.value_or(defaults.top_p);
    p.min_p = s.min_p.value_or(defaults.min_p);
    p.repetition_penalty = s.repetition_penalty.value_or(defaults.repetition_penalty);
    p.presence_penalty = s.presence_penalty;
    p.frequency_penalty = s.frequency_penalty;
    p.seed = s.seed;
    p.logprobs = r.logprobs;
    p.top_logprobs = r.top_logprobs;
    return p;
  }

  void generate(Kind kind, const GenerationRequest& r, std::vector<int32_t> prompt,
                const httplib::Request& req, httplib::Response& res) {
    auto g = std::make_shared<Generation>();
    g->kind = kind;
    g->head = {(kind == Kind::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++), unix_now(),
               opt.model_name};
    g->stream = r.stream;
    g->include_usage = r.include_usage;
    g->logprobs = r.logprobs;
    g->sock = find_connection(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    EngineRequest er;
    if (!prompt.empty()) g->prev = prompt.back();
    er.prompt = std::move(prompt);
    er.max_tokens = r.max_tokens.value_or(engine.context_size());
    er.stop = r.stop;
    er.sampling = sampling(r);
    er.on_event = [ch = g->channel](const EngineEvent& e) { return ch->push(e); };
    if (er.prompt.empty())
      throw invalid(kind == Kind::Chat ? "messages" : "prompt", "the prompt is empty");
    if (g->stream) {
      std::lock_guard<std::mutex> lock(open_mu);
      ++open_streams;
    }
    try {
      g->engine_id = engine.submit(std::move(er));
    } catch (const SubmitError& e) {
      if (g->stream) close(*g);
      throw submit_error(e);
    }
    if (!g->stream) return answer(*g, res);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, g](size_t, httplib::DataSink& sink) { return stream_step(*g, sink); },
        [this, g](bool success) {
          if (!success && !g->closed) client_left(*g);
          close(*g);
        });
  }

  void close(Generation& g) {
    if (g.closed) return;
    g.closed = true;
    std::lock_guard<std::mutex> lock(open_mu);
    --open_streams;
    open_cv.notify_all();
  }

  static ApiError submit_error(const SubmitError& e) {
    switch (e.kind) {
      case SubmitError::Kind::PromptTooLong:
        return ApiError(400, "context_length_exceeded",
                        "the prompt has " + std::to_string(e.prompt_tokens) +
                            " tokens, but the context holds " + std::to_string(e.context) +
                            " (--ctx-size), including the tokens to generate: shorten the prompt",
                        "messages");
      case SubmitError::Kind::QueueFull:
        return ApiError(503, "queue_full",
                        std::string("the server is busy (every slot taken, the queue full): ") +
                            "retry later. " + e.what());
      case SubmitError::Kind::Stopped:
        return ApiError(503, "server_shutting_down", "the server is shutting down");
      case SubmitError::Kind::Invalid:
        break;
    }
    return ApiError(400, "invalid_value", e.what());
  }

  void client_left(Generation& g) {
    g.channel->leave();
    engine.cancel(g.engine_id);
    if (opt.log_requests)
      std::fprintf(stderr, "[%s] cancelled: the client went away after %lld tokens\n",
                   g.head.id.c_str(), (long long)g.generated);
  }

  void log_done(const Generation& g, const EngineEvent& e) {
    if (!opt.log_requests) return;
    const double total = seconds_since(g.start);
    const double decode = total - e.time_to_first_token;
    std::fprintf(stderr,
                 "[%s] %s: %lld prompt tokens (%lld cached), %lld generated, ttft %.1f ms, "
                 "%.1f tok/s, %s%s%s\n",
                 g.head.id.c_str(), g.stream ? "stream" : "single",
                 (long long)e.usage.prompt_tokens, (long long)e.usage.cached_tokens,
                 (long long)e.usage.completion_tokens, 1e3 * e.time_to_first_token,
                 e.usage.completion_tokens > 1 && decode > 0
                     ? double(e.usage.completion_tokens - 1) / decode
                     : 0.0,
                 e.finish_reason.c_str(), e.error.empty() ? "" : ": ", e.error.c_str());
  }

  json event_logprobs(Generation& g, const std::vector<GeneratedToken>& tokens,
                      int64_t offset) const {
    if (!g.logprobs || tokens.empty()) return nullptr;
    json lp = g.kind == Kind::Chat ? chat_logprobs(tok, g.prev, tokens)
                                   : completion_logprobs(tok, g.prev, tokens, offset);
    g.prev = tokens.back().id;
    return lp;
  }

  // Waits for the whole answer of a request that does not stream.
  void answer(Generation& g, httplib::Response& res) {
    for (;;) {
      std::optional<EngineEvent> next = g.channel->pop(g.sock);
      if (!next) {
        client_left(g);
        throw ApiError(499, "client_closed_request", "the client closed the connection");
      }
      EngineEvent& e = *next;
      g.generated += int64_t(e.tokens.size());
      g.text += e.text;
      g.tokens.insert(g.tokens.end(), e.tokens.begin(), e.tokens.end());
      if (!e.done) continue;
      log_done(g, e);
      if (e.finish_reason == "error")
        throw ApiError(503, "server_shutting_down", "the request was ended: " + e.error);
      json lp = event_logprobs(g, g.tokens, 0);
      send_json(res,
                g.kind == Kind::Chat
                    ? chat_response(g.head, g.text, e.finish_reason, e.usage, std::move(lp))
                    : completion_response(g.head, g.text, e.finish_reason, e.usage, std::move(lp)));
      return;
    }
  }

  // Writes the chunks of the next event; false when the client has gone.
  bool stream_step(Generation& g, httplib::DataSink& sink) {
    auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
    const bool chat = g.kind == Kind::Chat;
    if (chat && !g.role_sent) {
      g.role_sent = true;
      if (!write(sse(chat_chunk(g.head, {{"role", "assistant"}, {"content", ""}}, "", nullptr,
                                g.include_usage))))
        return false;
    }
    std::optional<EngineEvent> next = g.channel->pop(g.sock);
    if (!next) return false;  // the done callback cancels the request
    EngineEvent& e = *next;
    g.generated += int64_t(e.tokens.size());
    if (!e.text.empty() || (g.logprobs && !e.tokens.empty())) {
      json lp = event_logprobs(g, e.tokens, int64_t(g.text.size()));
      g.text += e.text;
      json chunk =
          chat ? chat_chunk(g.head, {{"content", e.text}}, "", std::move(lp), g.include_usage)
               : completion_chunk(g.head, e.text, "", std::move(lp), g.include_usage);
      if (!write(sse(chunk))) return false;
    }
    if (!e.done) return true;
    log_done(g, e);
    struct Closer {
      Impl* impl;
      Generation& g;
      ~Closer() { impl->close(g); }
    } closer{this, g};
    if (e.finish_reason == "error") {
      ApiError err(503, "server_shutting_down", "the request was ended: " + e.error);
      write(sse(error_body(err)));
      sink.done();
      return true;
    }
    json last = chat ? chat_chunk(g.head, json::object(), e.finish_reason, nullptr, g.include_usage)
                     : completion_chunk(g.head, "", e.finish_reason, nullptr, g.include_usage);
    if (!write(sse(last))) return false;
    if (g.include_usage &&
        !write(
            sse(usage_chunk(g.head, chat ? "chat.completion.chunk" : "text_completion", e.usage))))
      return false;
    if (!write("data: [DONE]\n\n")) return false;
    sink.done();
    return true;
  }
};

Server::Server(Engine& engine, const Tokenizer& tok, const ChatTemplate* chat_template,
               SamplerConfig defaults, ServerOptions opt)
    : impl_(std::make_unique<Impl>(engine, tok, chat_template, defaults, std::move(opt))) {}

Server::~Server() { stop(); }

int Server::bind() {
  const ServerOptions& o = impl_->opt;
  int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host)
                         : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  check(port > 0, "cannot listen on ", o.host, ":", std::to_string(o.port),
        " (is another server using the port? choose one with --port)");
  ::listen(impl_->listen_socket, SOMAXCONN);  // listening again sets the backlog
  return port;
}

void Server::serve() { impl_->http.listen_after_bind(); }

void Server::stop() {
  std::call_once(impl_->stopped, [this] {
    Impl& i = *impl_;
    i.engine.stop();  // every request gets its last event, an error for those still running
    std::unique_lock<std::mutex> lock(i.open_mu);
    // Bounded: a client that reads nothing holds a write for httplib's write timeout.
    i.open_cv.wait_for(lock, std::chrono::seconds(30), [&] { return i.open_streams == 0; });
    lock.unlock();
    i.http.stop();
  });
}

}  // namespace purelm::server
