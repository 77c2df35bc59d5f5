// purelm serve: an OpenAI-compatible HTTP server (continuous batching over --parallel slots), on
// one process or on a mesh (mpirun -np 2 purelm serve --tp 2: rank 0 serves HTTP and runs the
// engine, the others make each of its forwards on their share of the model and KV cache).
// SIGINT or SIGTERM stops it: running streams end with an error chunk, then it exits.
#include <semaphore.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "purelm/chat_model.h"
#include "purelm/commands.h"
#include "purelm/mesh_options.h"
#include "purelm/ops/autograd.h"
#include "purelm/options.h"
#include "purelm/serve/engine.h"
#include "purelm/serve/slot_cache.h"
#include "purelm/server/server.h"
#include "purelm/tokenizer/chat_template.h"
#include "purelm/tokenizer/tokenizer.h"
#if PURELM_MESH
#include "purelm/dist/relay.h"
#endif

namespace purelm::cli {

namespace {

sem_t g_stop;  // posted by the signal handler: sem_post is async-signal-safe
void on_signal(int) { sem_post(&g_stop); }

struct ServeArgs {
  std::string model, host = "127.0.0.1", api_key, chat_template, dtype = "f32", kv_cache = "f32",
                     quant = "none";
  int port = 8080;
  int64_t parallel = 4, ctx_size = 4096, queue = 64;
  bool batch_invariant = false;
  MeshArgs mesh;
};

// Serves until SIGINT or SIGTERM. On a mesh, `announce` tells the other processes each call the
// engine makes on the KV cache, before it makes it, and `abandon` ends the job when such a call
// fails here (EngineOptions).
void run(const ServeArgs& a, const Model& m, const ChatKit& kit,
         std::function<void(const SlotCall&)> announce = {},
         std::function<void(const std::exception&)> abandon = {}) {
  const Tokenizer& tok = kit.tok;
  const GenerationDefaults& d = kit.defaults;
  std::optional<ChatTemplate> tpl;
  if (!kit.chat_template.empty()) tpl.emplace(kit.chat_template);

  EngineOptions eo;
  eo.parallel = a.parallel;
  eo.ctx_size = a.ctx_size;
  eo.queue_limit = a.queue;
  eo.kv_dtype = parse_compute_dtype(a.kv_cache);
  eo.eos_ids = d.eos_ids;
  eo.batch_invariant = a.batch_invariant;
  eo.announce = std::move(announce);
  eo.abandon = std::move(abandon);
  Engine engine(m, tok, eo);
  server::ServerOptions so;
  so.host = a.host;
  so.port = a.port;
  so.api_key = a.api_key;
  so.model_name = a.model;
  // Every running or queued request holds a connection; a few more answer the rest.
  so.http_threads = int(a.parallel + a.queue + 4);
  server::Server srv(engine, tok, tpl ? &*tpl : nullptr, d.sampler, so);
  const int port = srv.bind();

  sem_init(&g_stop, 0, 0);
  std::signal(SIGPIPE, SIG_IGN);  // a client that leaves mid-stream is a failed write, not a kill
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  engine.start();
  std::thread http([&] { srv.serve(); });
  std::fprintf(stderr,
               "purelm serve: %s on http://%s:%d (%lld slots of %lld tokens%s%s); Ctrl-C stops\n",
               a.model.c_str(), a.host.c_str(), port, (long long)a.parallel,
               (long long)engine.context_size(), tpl ? ", chat template" : ", no chat template",
               a.api_key.empty() ? "" : ", API key required");
  while (sem_wait(&g_stop) != 0) {
  }
  std::fprintf(stderr, "purelm serve: stopping\n");
  srv.stop();  // and the engine: its thread has made its last call when this returns
  http.join();
}

#if PURELM_MESH
// On a mesh: rank 0 runs the server and its engine, and relays each call on the KV cache to the
// others, which make it on their share of the model and cache, until the Stop that ends the job.
// They ignore SIGINT and SIGTERM (mpirun sends them to every process): rank 0 stops them.
void serve_on_mesh(const ServeArgs& a, const dist::Mesh& mesh) {
  dist::MeshModel mm(mesh, a.model, parse_compute_dtype(a.dtype));
  apply_quant(mm, a.quant);
  const Model& m = mm.model();
  if (mesh.leader()) {
    run(
        a, m, load_chat_kit(m, a.chat_template),
        [&](const SlotCall& c) { dist::relay(mesh, c.encode()); },
        [&](const std::exception& e) {
          std::fprintf(stderr,
                       "purelm serve: error in a step the other processes take part in: %s\n",
                       e.what());
          mesh.abort(1);
        });
    dist::relay(mesh, SlotCall{}.encode());  // Stop
    return;
  }
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  NoGrad no_grad;
  SlotCache cache(m, a.parallel, a.ctx_size, parse_compute_dtype(a.kv_cache));  // the engine's
  for (;;) {
    const SlotCall c = SlotCall::decode(dist::relay(mesh));
    if (c.kind == SlotCall::Kind::Stop) return;
    cache.run(c);
  }
}
#endif

}  // namespace

void add_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd =
      app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API")
          ->footer(
              "Endpoints: POST /v1/chat/completions, /v1/completions, /apply-template, /tokenize,\n"
              "/detokenize; GET /v1/models, /health, /metrics, and / (a chat page).\n"
              "Sampling fields a request leaves out take the checkpoint's generation_config.json.\n"
              "On a mesh (mpirun -np 2 purelm serve --tp 2 ...) rank 0 serves HTTP and the model\n"
              "is split over the processes.");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", a->port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", a->parallel, "Slots: requests generated at once, as one batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--ctx-size", a->ctx_size,
                  "Tokens per slot (prompt + answer), at most the model's context")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(2), INT64_MAX));
  cmd->add_option("--queue", a->queue, "Requests that may wait for a slot; past them, HTTP 503")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--batch-invariant", a->batch_invariant,
                "Decode at most 16 slots per forward, so that answers are bit-identical whatever "
                "else runs (matters only with --parallel above 16)");
  cmd->add_option("--api-key", a->api_key,
                  "Require 'Authorization: Bearer KEY' on every route but /health and /");
  cmd->add_option("--chat-template", a->chat_template,
                  "A Jinja chat template file to use instead of the model's")
      ->check(CLI::ExistingFile);
  add_dtype_option(cmd, &a->dtype);
  add_kv_cache_option(cmd, &a->kv_cache);
  add_quant_option(cmd, &a->quant);
  add_mesh_options(cmd, &a->mesh);
  cmd->callback([a] {
#if PURELM_MESH
    if (on_mesh(a->mesh))
      return run_on_mesh(a->mesh, true, [&](const dist::Mesh& mesh) { serve_on_mesh(*a, mesh); });
#endif
    ChatModel cm = load_chat_model(a->model, a->dtype, a->quant, a->chat_template);
    run(*a, cm.model, cm);
  });
}

}  // namespace purelm::cli
