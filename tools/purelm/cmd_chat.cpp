// purelm chat: an interactive conversation through the model's own chat template, streamed.
// Ctrl-C stops the answer being written; Ctrl-D (or /exit) ends the chat. A client of the serving
// engine with one slot, so each turn reuses the cache of the conversation so far.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "purelm/chat_model.h"
#include "purelm/commands.h"
#include "purelm/options.h"
#include "purelm/serve/engine.h"
#include "purelm/tokenizer/chat_template.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

struct ChatArgs {
  std::string model, system, chat_template, dtype = "f32", kv_cache = "f32", quant = "none";
  int64_t max_tokens = 1024, ctx_size = 4096;
  bool no_think = false;
  SamplerFlags sampling;
};

void run(const ChatArgs& a) {
  ChatModel cm = load_chat_model(a.model, a.dtype, a.quant, a.chat_template);
  const Model& m = cm.model;
  const Tokenizer& tok = cm.tok;
  const GenerationDefaults& d = cm.defaults;
  check(!cm.chat_template.empty(), m.dir,
        " has no chat template (tokenizer_config.json chat_template or chat_template.jinja): give "
        "one with --chat-template FILE, or use `purelm generate` for plain continuation");
  ChatTemplate tpl(cm.chat_template);
  EngineOptions opt;
  opt.parallel = 1;
  opt.ctx_size = a.ctx_size;
  opt.kv_dtype = parse_compute_dtype(a.kv_cache);
  opt.eos_ids = d.eos_ids;
  Engine engine(m, tok, opt);
  engine.start();
  SamplingParams sampling;
  const SamplerConfig s = a.sampling.over(d.sampler);
  sampling.temperature = s.temperature;
  sampling.top_k = s.top_k;
  sampling.top_p = s.top_p;
  sampling.min_p = s.min_p;
  sampling.repetition_penalty = s.repetition_penalty;
  sampling.seed = s.seed;

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  std::fprintf(stderr,
               "Chatting with %s. Ctrl-C stops an answer; /reset forgets; Ctrl-D or /exit quits.\n",
               m.dir.c_str());
  std::string line;
  for (;;) {
    std::signal(SIGINT, SIG_DFL);
    std::fputs("\n> ", stderr);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      messages.erase(messages.begin() + (a.system.empty() ? 0 : 1), messages.end());
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    nlohmann::ordered_json ctx = {{"messages", messages},
                                  {"add_generation_prompt", true},
                                  {"bos_token", tok.bos_token()},
                                  {"eos_token", tok.eos_token()}};
    if (a.no_think) ctx["enable_thinking"] = false;
    std::vector<int32_t> ids = tok.encode(tpl.render(ctx), /*add_special=*/false);
    std::string answer;
    g_interrupted = false;
    std::signal(SIGINT, on_sigint);
    std::mutex mu;
    std::condition_variable cv;
    bool over = false;
    EngineEvent last;
    int64_t generated = 0;
    auto t0 = std::chrono::steady_clock::now();
    EngineRequest r;
    r.prompt = ids;
    r.max_tokens = a.max_tokens;
    r.sampling = sampling;
    r.on_event = [&](const EngineEvent& e) {  // on the engine's thread
      answer += e.text;
      generated += int64_t(e.tokens.size());
      std::fputs(e.text.c_str(), stdout);
      std::fflush(stdout);
      bool go_on = !g_interrupted.load();
      if (e.done || !go_on) {
        std::lock_guard lock(mu);
        over = true;
        last = e;
        cv.notify_all();
      }
      return go_on;
    };
    try {
      engine.submit(std::move(r));
    } catch (const SubmitError& e) {
      std::fprintf(stderr, "%s: /reset to start a new conversation, or a larger --ctx-size\n",
                   e.what());
      messages.erase(messages.end() - 1);
      continue;
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return over; });
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\n");
    std::fflush(stdout);  // before the summary when both reach one terminal
    if (g_interrupted) std::fputs("[stopped]\n", stderr);
    if (last.finish_reason == "error") std::fprintf(stderr, "[error: %s]\n", last.error.c_str());
    std::fprintf(stderr, "[%zu prompt tokens (%lld cached), %lld generated, %.1f tok/s]\n",
                 ids.size(), (long long)last.usage.cached_tokens, (long long)generated,
                 double(generated) / std::max(seconds - last.time_to_first_token, 1e-9));
    messages.push_back({{"role", "assistant"}, {"content", answer}});
  }
}

}  // namespace

void add_chat(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "Talk with a model through its chat template");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--system", a->system, "System prompt");
  cmd->add_option(
         "--chat-template", a->chat_template,
         "A Jinja chat template file to use instead of the model's (e.g. for a base model)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--no-think", a->no_think,
                "Qwen3: answer without a thinking section (enable_thinking=false)");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens per answer")->capture_default_str();
  cmd->add_option("--ctx-size", a->ctx_size, "Positions of the conversation kept (prompt + answer)")
      ->capture_default_str();
  add_sampler_flags(cmd, &a->sampling);
  add_dtype_option(cmd, &a->dtype);
  add_kv_cache_option(cmd, &a->kv_cache);
  add_quant_option(cmd, &a->quant);
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
