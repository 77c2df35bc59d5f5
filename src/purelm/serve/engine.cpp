#include "purelm/serve/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_map>

#include "purelm/ops/autograd.h"
#include "purelm/ops/matmul.h"
#include "purelm/sample/last_logits.h"
#include "purelm/sample/sampler.h"
#include "purelm/sample/text_stream.h"

namespace purelm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// The chosen token's log-probability and the top alternatives under the model's distribution:
// log-softmax of the raw logits, before penalties and temperature, as OpenAI and llama-server
// report them (so they say what the model thinks, not how this request's sampling bent it).
void log_probs(const float* z, int64_t V, int top, GeneratedToken& g) {
  const float mx = *std::max_element(z, z + V);
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(double(z[i] - mx));
  const double lse = double(mx) + std::log(sum);
  g.logprob = float(double(z[g.id]) - lse);
  std::vector<int32_t> idx(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) idx[i] = int32_t(i);
  const int64_t n = std::min<int64_t>(top, V);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                    [&](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  for (int64_t i = 0; i < n; ++i) g.top.push_back({idx[i], float(double(z[idx[i]]) - lse)});
}

// Tells a request's client; a callback that throws has gone away like one that returns false.
bool tell(const EngineRequest& r, const EngineEvent& e) {
  try {
    return r.on_event(e);
  } catch (const std::exception&) {
    return false;
  }
}

// The last event of a request.
EngineEvent ending(uint64_t id, const std::string& reason, const std::string& error = "") {
  EngineEvent e;
  e.request = id;
  e.done = true;
  e.finish_reason = reason;
  e.error = error;
  return e;
}

}  // namespace

struct Engine::Job {
  uint64_t id = 0;
  EngineRequest req;
  Sampler sampler;
  std::optional<TextStream> text;  // with a tokenizer
  Clock::time_point submitted, last_token;
  double ttft = 0;
  std::vector<int32_t> history;  // prompt and generated tokens: the repetition penalty's, the KV's
  std::unordered_map<int32_t, int64_t> counts;  // of generated tokens (presence, frequency)
  int64_t generated = 0, cached = 0;
  int64_t prefilled = 0;  // prompt positions in the cache
  int32_t pending = -1;   // the token chosen last, not yet in the cache: decoding when >= 0

  Job(uint64_t i, EngineRequest r, const Tokenizer* tok, uint64_t seed)
      : id(i),
        req(std::move(r)),
        sampler(SamplerConfig{req.sampling.temperature, req.sampling.top_k, req.sampling.top_p,
                              req.sampling.min_p, req.sampling.repetition_penalty, seed}),
        submitted(Clock::now()),
        history(req.prompt) {
    if (tok) text.emplace(*tok, req.stop);
  }
};

struct Engine::Slot {
  int64_t row = 0;
  std::vector<int32_t> cached;  // the tokens whose keys and values row `row` holds
  std::shared_ptr<Job> job;
  uint64_t last_used = 0;
};

struct Engine::State {
  std::optional<SlotCache> cache;
  std::vector<Slot> slots;
  uint64_t clock = 0;  // admissions so far: a free slot's age, for evicting the oldest cache
};

Histogram::Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double x) {
  for (size_t i = 0; i < bounds.size(); ++i)
    if (x <= bounds[i]) ++counts[i];
  ++counts.back();
  sum += x;
  ++count;
}

Engine::Engine(const Model& m, const Tokenizer& tok, EngineOptions opt)
    : Engine(m, std::move(opt)) {
  tok_ = &tok;
}

Engine::Engine(const Model& m, EngineOptions opt)
    : model_(m), tok_(nullptr), opt_(std::move(opt)), st_(std::make_unique<State>()) {
  check(opt_.parallel > 0, "serve: --parallel must be at least 1");
  check(opt_.ctx_size > 1, "serve: --ctx-size must be at least 2");
  check(opt_.prefill_chunk > 0, "serve: the prefill chunk must be at least 1 token");
  st_->cache.emplace(m, opt_.parallel, opt_.ctx_size, opt_.kv_dtype);
  opt_.ctx_size = st_->cache->ctx();
  st_->slots.resize(size_t(opt_.parallel));
  for (int64_t r = 0; r < opt_.parallel; ++r) st_->slots[r].row = r;
  free_slots_ = opt_.parallel;
  stats_.slots_total = opt_.parallel;
  stats_.time_to_first_token = Histogram({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  stats_.token_latency = Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
}

Engine::~Engine() { stop(); }

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Engine::count(const std::function<void(EngineStats&)>& f) {
  std::lock_guard lock(mu_);
  f(stats_);
}

uint64_t Engine::submit(EngineRequest r) {
  using K = SubmitError::Kind;
  const int64_t n = int64_t(r.prompt.size());
  if (n == 0) throw SubmitError(K::Invalid, "the prompt is empty");
  if (r.max_tokens <= 0) throw SubmitError(K::Invalid, "max_tokens must be at least 1");
  if (r.sampling.top_logprobs < 0 || r.sampling.top_logprobs > 20)
    throw SubmitError(K::Invalid, "top_logprobs must be between 0 and 20");
  if (!tok_ && !r.stop.empty())
    throw SubmitError(K::Invalid, "stop strings need the model's tokenizer");
  if (n >= opt_.ctx_size)
    throw SubmitError(K::PromptTooLong,
                      "the prompt has " + std::to_string(n) + " tokens, the context holds " +
                          std::to_string(opt_.ctx_size) + " (prompt and answer)",
                      n, opt_.ctx_size);
  const uint64_t seed = r.sampling.seed ? *r.sampling.seed : std::random_device{}();
  std::lock_guard lock(mu_);
  if (stopping_) throw SubmitError(K::Stopped, "the server is shutting down");
  if (int64_t(queue_.size()) >= opt_.queue_limit + free_slots_)
    throw SubmitError(K::QueueFull, "all " + std::to_string(opt_.parallel) +
                                        " slots are busy and " + std::to_string(opt_.queue_limit) +
                                        " requests wait: try again later");
  const uint64_t id = next_id_++;
  queue_.push_back(std::make_shared<Job>(id, std::move(r), tok_, seed));
  ++stats_.requests_total;
  stats_.queue_length = int64_t(queue_.size());
  wake_.notify_one();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(queue_.begin(), queue_.end(), [&](auto& j) { return j->id == id; });
  if (it != queue_.end()) {
    queue_.erase(it);
    ++stats_.requests_finished;
    stats_.queue_length = int64_t(queue_.size());
    return;
  }
  cancelled_.push_back(id);
  wake_.notify_one();
}

void Engine::start() {
  std::lock_guard lock(mu_);
  check(!running_ && !stopping_, "serve: the engine was already started");
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_one();
    if (!running_) left.swap(queue_);  // never started: no thread to end them
  }
  if (thread_.joinable()) thread_.join();
  for (auto& j : left) {
    tell(j->req, ending(j->id, "error", "server shutting down"));
  }
}

bool Engine::busy() const {
  return std::any_of(st_->slots.begin(), st_->slots.end(),
                     [](const Slot& s) { return bool(s.job); });
}

void Engine::loop() {
  NoGrad no_grad;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock,
                 [&] { return stopping_ || !queue_.empty() || !cancelled_.empty() || busy(); });
      if (stopping_) break;
    }
    tick();
  }
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  for (Slot& s : st_->slots)
    if (s.job) finish(s, "error", "server shutting down");
  for (auto& j : left) {
    tell(j->req, ending(j->id, "error", "server shutting down"));
  }
}

std::vector<float> Engine::call(const SlotCall& c) {
  if (!opt_.announce) return st_->cache->run(c);
  opt_.announce(c);
  try {
    return st_->cache->run(c);
  } catch (const std::exception& e) {
    if (opt_.abandon) opt_.abandon(e);
    throw;
  }
}

void Engine::run() {
  {
    std::lock_guard lock(mu_);
    check(!running_ && !stopping_, "serve: run() on an engine that was started or stopped");
  }
  NoGrad no_grad;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (queue_.empty() && !busy()) return;
    }
    tick();
  }
}

void Engine::tick() {
  State& st = *st_;
  std::vector<uint64_t> cancelled;
  {
    std::lock_guard lock(mu_);
    cancelled.swap(cancelled_);
  }
  for (uint64_t id : cancelled)
    for (Slot& s : st.slots)
      if (s.job && s.job->id == id) drop(s);
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    while (int64_t(jobs.size()) < free_slots_ && !queue_.empty()) {
      jobs.push_back(queue_.front());
      queue_.pop_front();
    }
    stats_.queue_length = int64_t(queue_.size());
  }
  try {
    admit(jobs);
    step();
  } catch (const std::exception& e) {  // e.g. out of memory: end what runs, keep serving
    for (Slot& s : st.slots)
      if (s.job) finish(s, "error", e.what());
  }
}

// Each job takes the free slot whose cached tokens share the longest prefix with its prompt (the
// oldest among equals), and skips that prefix, but for the prompt's last token whose logits it
// needs.
void Engine::admit(std::vector<std::shared_ptr<Job>>& jobs) {
  State& st = *st_;
  for (auto& j : jobs) {
    Slot* best = nullptr;
    size_t best_n = 0;
    for (Slot& s : st.slots) {
      if (s.job) continue;
      size_t n = std::min(common_prefix(s.cached, j->req.prompt), j->req.prompt.size() - 1);
      if (!best || n > best_n || (n == best_n && s.last_used < best->last_used)) {
        best = &s;
        best_n = n;
      }
    }
    check(best != nullptr, "serve: no free slot for an admitted request");
    call({.kind = SlotCall::Kind::Truncate, .rows = {best->row}, .n = int64_t(best_n)});
    best->cached.resize(best_n);
    best->job = j;
    best->last_used = ++st.clock;
    j->cached = j->prefilled = int64_t(best_n);
    count([&](EngineStats& s) {
      --free_slots_;
      ++s.requests_active;
      ++s.slots_busy;
      s.prompt_tokens += j->req.prompt.size();
      s.cached_tokens += best_n;
    });
  }
}

// One step: a chunk of the prompt of slots still prefilling (about prefill_chunk tokens in all,
// a forward per slot), then one token of every decoding slot in one batched forward. A prompt is
// cut into chunks of prefill_chunk tokens whatever else runs: how a product splits its rows can
// change the last bits of its sums, and a request's logits should not depend on its neighbours.
void Engine::step() {
  State& st = *st_;
  int64_t budget = opt_.prefill_chunk;
  for (Slot& s : st.slots) {
    if (!s.job || s.job->pending >= 0 || budget <= 0) continue;
    Job& j = *s.job;
    const int64_t n = std::min(opt_.prefill_chunk, int64_t(j.req.prompt.size()) - j.prefilled);
    std::vector<int32_t> chunk(j.req.prompt.begin() + j.prefilled,
                               j.req.prompt.begin() + j.prefilled + n);
    j.prefilled += n;
    budget -= n;
    const bool last = j.prefilled == int64_t(j.req.prompt.size());
    std::vector<float> logits = call({.kind = SlotCall::Kind::Forward,
                                      .rows = {s.row},
                                      .ids = std::move(chunk),
                                      .n = n,
                                      .logits = last});
    if (last) choose(s, logits.data());
  }
  std::vector<int64_t> rows;
  std::vector<int32_t> ids;
  std::vector<Slot*> who;
  for (Slot& s : st.slots)
    if (s.job && s.job->pending >= 0) {
      rows.push_back(s.row);
      ids.push_back(s.job->pending);
      who.push_back(&s);
    }
  const int64_t V = model_.config.vocab_size, n = int64_t(who.size());
  const int64_t group = opt_.batch_invariant ? kRowInvariantRows : std::max<int64_t>(n, 1);
  for (int64_t b0 = 0; b0 < n; b0 += group) {
    const int64_t m = std::min(group, n - b0);
    std::vector<float> logits = call({.kind = SlotCall::Kind::Forward,
                                      .rows = {rows.begin() + b0, rows.begin() + b0 + m},
                                      .ids = {ids.begin() + b0, ids.begin() + b0 + m},
                                      .n = 1,
                                      .logits = true});
    for (int64_t b = 0; b < m; ++b) choose(*who[b0 + b], &logits[b * V]);
  }
}

// Picks the slot's next token from its logits [V] and tells the client.
void Engine::choose(Slot& s, float* logits) {
  Job& j = *s.job;
  const int64_t V = model_.config.vocab_size;
  const SamplingParams& sp = j.req.sampling;
  std::vector<float> raw;
  if (sp.logprobs) raw.assign(logits, logits + V);
  if (sp.presence_penalty != 0 || sp.frequency_penalty != 0)
    for (auto [t, n] : j.counts) logits[t] -= sp.presence_penalty + sp.frequency_penalty * float(n);
  const int32_t t = j.sampler.next(logits, V, j.history);
  if (std::find(opt_.eos_ids.begin(), opt_.eos_ids.end(), t) != opt_.eos_ids.end())
    return finish(s, "stop");
  const Clock::time_point now = Clock::now();
  if (j.generated == 0) {
    j.ttft = seconds_between(j.submitted, now);
    count([&](EngineStats& st) { st.time_to_first_token.observe(j.ttft); });
  } else {
    count([&](EngineStats& st) { st.token_latency.observe(seconds_between(j.last_token, now)); });
  }
  j.last_token = now;
  j.history.push_back(t);
  ++j.counts[t];
  ++j.generated;
  count([](EngineStats& st) { ++st.generated_tokens; });
  EngineEvent e;
  e.request = j.id;
  if (j.text) e.text = j.text->push(t);
  e.tokens.resize(1);
  e.tokens[0].id = t;
  if (sp.logprobs) log_probs(raw.data(), V, sp.top_logprobs, e.tokens[0]);
  if (!tell(j.req, e)) return drop(s);
  if (j.text && j.text->stopped()) return finish(s, "stop");
  // The token goes into the cache at the next step: that needs a free position.
  if (j.generated >= j.req.max_tokens || st_->cache->len(s.row) >= opt_.ctx_size)
    return finish(s, "length");
  j.pending = t;
}

void Engine::finish(Slot& s, const std::string& reason, const std::string& error) {
  Job& j = *s.job;
  EngineEvent e = ending(j.id, reason, error);
  if (reason != "error" && j.text) e.text = j.text->finish();
  e.usage = {int64_t(j.req.prompt.size()), j.cached, j.generated};
  e.time_to_first_token = j.ttft;
  std::shared_ptr<Job> keep = s.job;  // the callback may outlive the slot's hold on it
  drop(s);
  tell(keep->req, e);
}

void Engine::drop(Slot& s) {
  const int64_t n = st_->cache->len(s.row);
  s.cached.assign(s.job->history.begin(), s.job->history.begin() + n);
  s.job.reset();
  count([&](EngineStats& st) {
    ++free_slots_;
    --st.requests_active;
    --st.slots_busy;
    ++st.requests_finished;
  });
}

}  // namespace purelm
