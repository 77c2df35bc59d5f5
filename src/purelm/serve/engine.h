// The serving engine: continuous batching over the slots of one KV cache.
//
// One engine thread owns `parallel` slots. A submitted request waits in a bounded queue until a
// slot is free, then joins the running batch at the next step; its prompt is prefilled in chunks
// between decode steps, so running streams keep flowing; each decode step runs the next token of
// every decoding slot as one batched forward. A slot keeps its KV after its request: a new request
// whose prompt begins with a free slot's cached tokens takes that slot and skips that prefix.
//
//   Engine engine(model, tokenizer, {.parallel = 8, .eos_ids = defaults.eos_ids});
//   engine.start();
//   uint64_t id = engine.submit({.prompt = ids, .max_tokens = 64,
//                                .on_event = [](const EngineEvent& e) { ...; return true; }});
//
// Each request samples with its own RNG (from its seed), so what it generates does not depend on
// what else runs beside it.
//
// Without start(), run() serves the submitted requests to their end on the calling thread: that is
// how `generate` (serve/generate.h) uses it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "purelm/core/error.h"
#include "purelm/models/model.h"
#include "purelm/serve/slot_cache.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm {

// How one request chooses its tokens, in the order they apply: presence and frequency penalties
// (OpenAI: logit -= presence * [count > 0] + frequency * count, over the tokens generated so far),
// then the repetition penalty (HF, over prompt and generated tokens), temperature, top-k, top-p and
// min-p as the Sampler applies them.
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;  // none: a fresh seed per request
  bool logprobs = false;         // report each chosen token's log-probability
  int top_logprobs = 0;          // and the most likely alternatives (0 .. 20)
};

// A token and its log-probability under the model's own distribution: the log-softmax of the raw
// logits, before penalties and temperature (as OpenAI and llama-server report them).
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

// One generated token: its id, and with logprobs on its log-probability and the top alternatives,
// most likely first.
struct GeneratedToken {
  int32_t id = 0;
  float logprob = 0;
  std::vector<TokenLogprob> top;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // of the prompt, reused from a slot's cache (not recomputed)
  int64_t completion_tokens = 0;
};

// What the engine tells a request's callback: after each generated token, and once more at the
// end (done). `text` is the text that became safe to show (complete UTF-8, never a piece of a stop
// string; may be empty while text is held back; on the done event, the held-back rest); `tokens`
// are the ids generated since the last event (an EOS that ends the request is not among them; the
// token that completes a stop string is).
struct EngineEvent {
  uint64_t request = 0;
  std::string text;
  std::vector<GeneratedToken> tokens;
  bool done = false;
  // Only on the last event:
  std::string finish_reason;  // "stop" (EOS or a stop string), "length" or "error"
  std::string error;          // with "error": why (e.g. "server shutting down")
  Usage usage;
  double time_to_first_token = 0;  // seconds from submit to the first generated token
};

struct EngineRequest {
  std::vector<int32_t> prompt;  // token ids, at least one
  int64_t max_tokens = 128;     // also ends at the slot's context (finish_reason "length")
  std::vector<std::string> stop;
  SamplingParams sampling;
  // Called on the engine's thread: keep it short. Returning false cancels the request (the client
  // went away); no further events follow, not even a done one.
  std::function<bool(const EngineEvent&)> on_event;
};

struct EngineOptions {
  int64_t parallel = 4;          // slots, the most requests that run at once
  int64_t ctx_size = 4096;       // positions per slot (prompt + generated), at most the model's
  int64_t queue_limit = 64;      // requests waiting for a slot; past it submit() throws QueueFull
  int64_t prefill_chunk = 256;   // prompt tokens prefilled between two decode steps
  DType kv_dtype = DType::F32;   // of the KV cache (F32 or BF16)
  std::vector<int64_t> eos_ids;  // any of these ends a request (generation config + tokenizer)
  // Decode at most kRowInvariantRows (16) slots per forward, so that a request's logits are
  // bit-identical whatever else runs, also with more slots (which then read the weights once per
  // 16 rows instead of once per step). Up to 16 slots they are anyway.
  bool batch_invariant = false;
  // Told each call on the KV cache, on the engine's thread, before it is made (on a mesh: the
  // leader sends it to the other processes, which make the same calls on their share of the cache).
  std::function<void(const SlotCall&)> announce = {};
  // Called when an announced call fails here: the processes told of it are inside its collectives
  // and wait for this one, so the mesh cannot go on: the caller ends the job (if it returns, the
  // error ends the running requests, as any other).
  std::function<void(const std::exception&)> abandon = {};
};

// Why submit() refused a request. The front answers 400 for PromptTooLong and Invalid, 503 for
// QueueFull and Stopped.
struct SubmitError : Error {
  enum class Kind { PromptTooLong, QueueFull, Stopped, Invalid };
  Kind kind;
  int64_t prompt_tokens = 0, context = 0;  // with PromptTooLong
  SubmitError(Kind k, const std::string& msg, int64_t prompt = 0, int64_t ctx = 0)
      : Error(msg), kind(k), prompt_tokens(prompt), context(ctx) {}
};

// A Prometheus-style histogram: counts[i] observations <= bounds[i] (cumulative), the last entry
// of counts all of them (+Inf).
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
  explicit Histogram(std::vector<double> b = {});
  void observe(double x);
};

// A snapshot for /metrics.
struct EngineStats {
  uint64_t requests_total = 0;     // accepted by submit()
  uint64_t requests_finished = 0;  // ended, for any reason
  int64_t requests_active = 0;     // in a slot
  int64_t queue_length = 0;        // waiting for a slot
  int64_t slots_busy = 0, slots_total = 0;
  uint64_t prompt_tokens = 0;  // prompt tokens of started requests (cached ones included)
  uint64_t cached_tokens = 0;  // of those, reused from a slot's cache
  uint64_t generated_tokens = 0;
  Histogram time_to_first_token;  // seconds
  Histogram token_latency;        // seconds between two tokens of one request
};

class Engine {
 public:
  // The model and tokenizer must outlive the engine.
  Engine(const Model& m, const Tokenizer& tok, EngineOptions opt);
  // Token ids only: events carry no text, and requests with stop strings are refused.
  Engine(const Model& m, EngineOptions opt);
  ~Engine();  // stop()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();  // starts the engine thread
  // Ends every running and queued request with an "error" event ("server shutting down") and joins
  // the thread; returns after at most the step in progress. submit() throws Stopped afterwards.
  void stop();
  // Instead of start(): serves every submitted request to its end on this thread, then returns.
  void run();

  // Queues a request and returns its id (never 0). Throws SubmitError: Invalid (empty prompt,
  // max_tokens <= 0, top_logprobs outside 0 .. 20, stop strings without a tokenizer), PromptTooLong
  // (the prompt leaves no room in a slot's context), QueueFull, Stopped.
  uint64_t submit(EngineRequest r);
  // Ends a queued or running request without further events; its slot is free for the next step.
  // Unknown or finished ids are ignored.
  void cancel(uint64_t id);

  EngineStats stats() const;  // thread-safe
  const EngineOptions& options() const { return opt_; }
  int64_t context_size() const { return opt_.ctx_size; }  // per slot, after capping

 private:
  struct Job;
  struct Slot;
  struct State;  // the KV cache and the slots, the engine thread's alone
  void loop();
  void tick();  // cancellations, admissions, then one step
  bool busy() const;
  void admit(std::vector<std::shared_ptr<Job>>& jobs);
  void step();
  void choose(Slot& s, float* logits);
  std::vector<float> call(const SlotCall& c);
  void finish(Slot& s, const std::string& reason, const std::string& error = "");
  void drop(Slot& s);  // frees a slot whose request ends without an event
  void count(const std::function<void(EngineStats&)>& f);

  const Model& model_;
  const Tokenizer* tok_;  // null: token ids only
  EngineOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<uint64_t> cancelled_;
  int64_t free_slots_ = 0;
  EngineStats stats_;
  std::unique_ptr<State> st_;
  uint64_t next_id_ = 1;
  bool running_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace purelm
