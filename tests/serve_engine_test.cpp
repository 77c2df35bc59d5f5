// The serving engine (serve/engine.h): continuous batching gives each request the tokens it gets
// alone, through generate(), whatever runs beside it; seeds reproduce; slots are freed, reused for
// shared prefixes, and everything ends on stop().
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>

#include "purelm/serve/engine.h"
#include "purelm/serve/generate.h"
#include "testing.h"

namespace purelm {
namespace {

using testing::shared;

// What one request received.
struct Outcome {
  std::vector<int32_t> ids;
  std::string text;
  std::vector<GeneratedToken> tokens;
  EngineEvent last;
  bool done = false;
  int events_after_done = 0;
};

// Submits requests and waits for their last events.
class Client {
 public:
  explicit Client(Engine& e) : engine_(e) {}
  // `keep_going(outcome)` is asked after each token event; false cancels the request.
  uint64_t submit(EngineRequest r, std::function<bool(const Outcome&)> keep_going = {}) {
    auto out = std::make_shared<Outcome>();
    r.on_event = [this, out, keep_going](const EngineEvent& e) {
      {
        std::lock_guard lock(mu_);
        if (out->done) ++out->events_after_done;
        out->text += e.text;
        for (const GeneratedToken& g : e.tokens) {
          out->ids.push_back(g.id);
          out->tokens.push_back(g);
        }
        if (e.done) {
          out->done = true;
          out->last = e;
          ++finished_;
          cv_.notify_all();
          return true;
        }
      }
      // Unlocked: it may submit (only the engine's thread writes `out`).
      if (!keep_going || keep_going(*out)) return true;
      std::lock_guard lock(mu_);
      ++finished_;  // cancelled: no done event follows
      cv_.notify_all();
      return false;
    };
    uint64_t id = engine_.submit(std::move(r));
    std::lock_guard lock(mu_);
    outcomes_[id] = out;
    return id;
  }
  void wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_ >= n; });
  }
  const Outcome& operator[](uint64_t id) {
    std::lock_guard lock(mu_);
    return *outcomes_.at(id);
  }

 private:
  Engine& engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<Outcome>> outcomes_;
  size_t finished_ = 0;
};

EngineRequest greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

std::vector<int32_t> alone(const Model& m, const std::vector<int32_t>& prompt, int64_t max_tokens,
                           const std::vector<int64_t>& eos) {
  GenerateOptions opt;
  opt.max_tokens = max_tokens;
  opt.sampler.temperature = 0;
  opt.eos_ids = eos;
  return generate(m, {prompt}, opt)[0];
}

// Prompts of different lengths from the stories260K goldens: prefixes of their token streams.
std::vector<std::vector<int32_t>> story_prompts(size_t n) {
  std::ifstream f(shared("models/stories260K/goldens.jsonl"));
  std::vector<std::vector<int32_t>> streams, out;
  for (std::string line; std::getline(f, line);)
    streams.push_back(nlohmann::json::parse(line)["all_ids"].get<std::vector<int32_t>>());
  for (size_t i = 0; i < n; ++i) {
    const auto& s = streams[i % streams.size()];
    out.emplace_back(s.begin(), s.begin() + std::min(s.size(), 1 + (i * 7) % 40));
  }
  return out;
}

struct Stories : ::testing::Test {
  static void SetUpTestSuite() {
    model = new Model(load_model(shared("models/stories260K")));
    tok = new Tokenizer(Tokenizer::load(shared("models/stories260K")));
  }
  static void TearDownTestSuite() {
    delete model;
    delete tok;
  }
  static Model* model;
  static Tokenizer* tok;
  const std::vector<int64_t> eos{2};
};
Model* Stories::model = nullptr;
Tokenizer* Stories::tok = nullptr;

// 16 requests of different prompt and answer lengths over 4 slots: they queue, join the batch
// and leave it at different steps, prefill in chunks of 5 while others decode.
void expect_concurrent_equals_alone(const Model& m, const Tokenizer& tok,
                                    const std::vector<std::vector<int32_t>>& prompts,
                                    const std::vector<int64_t>& eos) {
  Engine engine(m, tok, {.parallel = 4, .ctx_size = 128, .prefill_chunk = 5, .eos_ids = eos});
  Client c(engine);
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < prompts.size(); ++i)
    ids.push_back(c.submit(greedy(prompts[i], 4 + int64_t(i * 5) % 30)));
  engine.start();
  c.wait(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Outcome& o = c[ids[i]];
    EXPECT_EQ(o.ids, alone(m, prompts[i], 4 + int64_t(i * 5) % 30, eos)) << "request " << i;
    EXPECT_EQ(o.last.usage.prompt_tokens, int64_t(prompts[i].size()));
    EXPECT_EQ(o.last.usage.completion_tokens, int64_t(o.ids.size()));
    EXPECT_EQ(o.events_after_done, 0);
  }
  EngineStats s = engine.stats();
  EXPECT_EQ(s.requests_total, prompts.size());
  EXPECT_EQ(s.requests_finished, prompts.size());
  EXPECT_EQ(s.slots_busy, 0);
  EXPECT_EQ(s.queue_length, 0);
  EXPECT_EQ(s.time_to_first_token.count, prompts.size());
}

TEST_F(Stories, GreedyAloneMatchesLlama2c) {
  std::ifstream f(shared("models/stories260K/goldens.jsonl"));
  Engine engine(*model, *tok, {.parallel = 1, .ctx_size = 256, .eos_ids = eos});
  engine.start();
  Client c(engine);
  size_t n = 0;
  for (std::string line; std::getline(f, line); ++n) {
    auto j = nlohmann::json::parse(line);
    auto want = j["generated_ids"].get<std::vector<int32_t>>();
    uint64_t id = c.submit(greedy(j["prompt_ids"], int64_t(want.size())));
    c.wait(n + 1);
    EXPECT_EQ(c[id].ids, want) << j["prompt"];
    EXPECT_EQ(c[id].last.finish_reason, "length");
    EXPECT_EQ(c[id].text, tok->decode(want, true));
  }
  EXPECT_EQ(n, 4u);
}

TEST_F(Stories, SixteenConcurrentGreedyRequestsEqualGenerateAlone) {
  expect_concurrent_equals_alone(*model, *tok, story_prompts(16), eos);
}

// generate() runs its prompts as requests of one engine on the calling thread: a batch gives each
// prompt what it gives alone, greedy, and sampled too (prompt i seeded with seed + i); a callback
// that returns false stops its row after that token.
TEST_F(Stories, GenerateBatchEqualsEachPromptAlone) {
  const std::vector<std::vector<int32_t>> prompts = story_prompts(6);
  for (float temperature : {0.0f, 0.8f}) {
    GenerateOptions opt;
    opt.max_tokens = 24;
    opt.sampler.temperature = temperature;
    opt.sampler.seed = 11;
    opt.eos_ids = eos;
    GenerateStats st;
    std::vector<std::vector<int32_t>> batch = generate(*model, prompts, opt, {}, &st);
    int64_t generated = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerateOptions one = opt;
      one.sampler.seed = opt.sampler.seed + i;
      EXPECT_EQ(batch[i], generate(*model, {prompts[i]}, one)[0]) << i << " " << temperature;
      generated += int64_t(batch[i].size());
    }
    EXPECT_EQ(st.generated_tokens, generated);
  }
  GenerateOptions opt;
  opt.max_tokens = 24;
  opt.sampler.temperature = 0;
  std::vector<int> seen(prompts.size());
  auto first_three = [&](size_t row, int32_t) { return ++seen[row] < 3; };
  for (const auto& ids : generate(*model, prompts, opt, first_three)) EXPECT_EQ(ids.size(), 3u);
}

TEST(Qwen3, SixteenConcurrentGreedyRequestsEqualGenerateAlone) {
  Model m = load_model(shared("fixtures/qwen3-tiny"));
  // The fixture has no tokenizer; any will do to turn ids into text, the ids are what is compared.
  Tokenizer tok = Tokenizer::load(shared("models/stories260K"));
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> p;
    for (int t = 0; t < 1 + (i * 11) % 37; ++t) p.push_back((i * 31 + t * 17) % 384);
    prompts.push_back(p);
  }
  expect_concurrent_equals_alone(m, tok, prompts, {383});
}

// Batch invariance: a request's logits (seen through its logprobs, the log-softmax of the raw
// logits) are bit-identical alone and among `parallel - 1` others, decoding in one batch.
void expect_logits_invariant(const Model& m, const Tokenizer& tok, int64_t parallel,
                             bool batch_invariant) {
  auto prompts = story_prompts(size_t(parallel));
  std::vector<GeneratedToken> first;
  for (int64_t others : {int64_t(0), parallel - 1}) {
    Engine engine(m, tok,
                  {.parallel = parallel,
                   .ctx_size = 128,
                   .prefill_chunk = 64,
                   .eos_ids = {},
                   .batch_invariant = batch_invariant});
    Client c(engine);
    EngineRequest r = greedy(prompts[9], 20);
    r.sampling.logprobs = true;
    r.sampling.top_logprobs = 20;
    uint64_t id = c.submit(r);
    for (int64_t i = 0; i < others; ++i)
      c.submit(greedy(prompts[i == 9 ? parallel - 1 : i], 5 + i * 2));
    engine.start();
    c.wait(size_t(others) + 1);
    ASSERT_EQ(c[id].tokens.size(), 20u);
    if (first.empty()) {
      first = c[id].tokens;
      continue;
    }
    for (size_t t = 0; t < first.size(); ++t) {
      EXPECT_EQ(c[id].tokens[t].logprob, first[t].logprob) << "token " << t;
      for (size_t k = 0; k < 20; ++k) {
        EXPECT_EQ(c[id].tokens[t].top[k].id, first[t].top[k].id);
        EXPECT_EQ(c[id].tokens[t].top[k].logprob, first[t].top[k].logprob);
      }
    }
  }
}

// Up to kRowInvariantRows (16) rows, each row of a decode step's products sums in one order.
TEST_F(Stories, LogitsAreBitIdenticalWhateverElseRuns) {
  expect_logits_invariant(*model, *tok, 16, false);
}

// Past 16 slots the packed GEMM sums otherwise; batch_invariant decodes 16 rows per forward.
TEST_F(Stories, BatchInvariantKeepsLogitsBitIdenticalPastSixteenSlots) {
  expect_logits_invariant(*model, *tok, 24, true);
}

TEST_F(Stories, SeededSamplingIsReproducibleInAnyBatch) {
  EngineRequest r = greedy(story_prompts(3)[2], 30);
  r.sampling = {.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = 1234};
  std::vector<int32_t> first;
  for (int others : {0, 5}) {
    Engine engine(*model, *tok, {.parallel = 4, .ctx_size = 128, .eos_ids = eos});
    Client c(engine);
    for (int i = 0; i < others; ++i) {
      EngineRequest o = greedy(story_prompts(8)[i + 3], 10 + 3 * i);
      o.sampling.temperature = 1.0f;  // unseeded
      c.submit(o);
    }
    uint64_t id = c.submit(r);
    engine.start();
    c.wait(size_t(others) + 1);
    ASSERT_EQ(c[id].ids.size(), 30u);
    if (first.empty())
      first = c[id].ids;
    else
      EXPECT_EQ(c[id].ids, first);
  }
}

TEST_F(Stories, CancelledRequestsFreeTheirSlot) {
  Engine engine(*model, *tok, {.parallel = 1, .ctx_size = 128, .eos_ids = eos});
  Client c(engine);
  // The client goes away after 3 tokens; the next request still gets the only slot.
  uint64_t a =
      c.submit(greedy(story_prompts(1)[0], 100), [](const Outcome& o) { return o.ids.size() < 3; });
  // cancel() on a running request, from its own callback (the engine's thread), which first
  // queues another request (id b + 1).
  uint64_t b = 0;
  b = c.submit(greedy(story_prompts(2)[1], 100), [&](const Outcome& o) {
    if (o.ids.size() == 2) {
      c.submit(greedy({1}, 5));
      engine.cancel(b);
    }
    return true;
  });
  engine.start();
  c.wait(2);  // a and the request that b's callback submitted
  EXPECT_EQ(c[a].ids.size(), 3u);
  EXPECT_FALSE(c[a].done);
  EXPECT_EQ(c[b].ids.size(), 2u);  // its tokens after the cancel never came
  EXPECT_FALSE(c[b].done);
  EXPECT_EQ(c[b + 1].ids, alone(*model, {1}, 5, eos));
  EngineStats s = engine.stats();
  EXPECT_EQ(s.slots_busy, 0);
  EXPECT_EQ(s.requests_active, 0);
}

TEST_F(Stories, QueueLimitAndPromptLengthAreRefused) {
  Engine engine(*model, *tok, {.parallel = 1, .ctx_size = 16, .queue_limit = 2, .eos_ids = eos});
  Client c(engine);
  for (int i = 0; i < 3; ++i) c.submit(greedy({1, 2, 3}, 5));  // 1 slot and 2 waiting
  try {
    c.submit(greedy({1, 2, 3}, 5));
    FAIL() << "the queue is full";
  } catch (const SubmitError& e) {
    EXPECT_EQ(e.kind, SubmitError::Kind::QueueFull);
  }
  try {
    engine.submit(greedy(std::vector<int32_t>(16, 1), 5));
    FAIL() << "the prompt fills the context";
  } catch (const SubmitError& e) {
    EXPECT_EQ(e.kind, SubmitError::Kind::PromptTooLong);
    EXPECT_EQ(e.prompt_tokens, 16);
    EXPECT_EQ(e.context, 16);
    EXPECT_NE(std::string(e.what()).find("16 tokens"), std::string::npos) << e.what();
  }
  for (auto bad : {greedy({}, 5), greedy({1}, 0)}) {
    try {
      engine.submit(bad);
      FAIL() << "invalid";
    } catch (const SubmitError& e) {
      EXPECT_EQ(e.kind, SubmitError::Kind::Invalid);
    }
  }
  engine.start();
  c.wait(3);
}

TEST_F(Stories, AnswerEndsAtTheContext) {
  Engine engine(*model, *tok, {.parallel = 2, .ctx_size = 12, .eos_ids = {}});
  Client c(engine);
  uint64_t id = c.submit(greedy({1, 403, 407, 261, 378}, 100));
  engine.start();
  c.wait(1);
  // 12 positions: the 5 prompt tokens and 7 answers, plus the one chosen from the last position.
  EXPECT_EQ(c[id].ids.size(), 8u);
  EXPECT_EQ(c[id].last.finish_reason, "length");
  EXPECT_EQ(c[id].ids, alone(*model, {1, 403, 407, 261, 378}, 8, {}));
}

TEST_F(Stories, SharedPrefixIsReusedAndGivesTheColdAnswer) {
  auto prompts = story_prompts(4);
  std::vector<int32_t> first = prompts[3];  // 22 tokens
  std::vector<int32_t> answer = alone(*model, first, 12, eos);
  // A second turn: the first prompt, its answer and more.
  std::vector<int32_t> second = first;
  second.insert(second.end(), answer.begin(), answer.end());
  second.insert(second.end(), {261, 378, 432});

  Engine engine(*model, *tok, {.parallel = 2, .ctx_size = 128, .eos_ids = eos});
  engine.start();
  Client c(engine);
  uint64_t a = c.submit(greedy(first, 12));
  c.wait(1);
  EXPECT_EQ(c[a].last.usage.cached_tokens, 0);
  uint64_t b = c.submit(greedy(second, 20));
  c.wait(2);
  // The first request's cache holds its prompt and all its answer but the last token.
  EXPECT_EQ(c[b].last.usage.cached_tokens, int64_t(first.size() + answer.size() - 1));
  EXPECT_EQ(c[b].ids, alone(*model, second, 20, eos));
  // The same prompt again: all but its last token are cached.
  uint64_t d = c.submit(greedy(second, 20));
  c.wait(3);
  EXPECT_EQ(c[d].last.usage.cached_tokens, int64_t(second.size() - 1));
  EXPECT_EQ(c[d].ids, c[b].ids);
  EXPECT_EQ(engine.stats().cached_tokens,
            uint64_t(c[b].last.usage.cached_tokens + c[d].last.usage.cached_tokens));
}

TEST_F(Stories, StopStringsEndTheAnswerAndAreNeverShown) {
  std::vector<int32_t> prompt = story_prompts(1)[0];
  std::string full = tok->decode(alone(*model, prompt, 40, eos), true);
  ASSERT_GT(full.size(), 30u);
  std::string stop = full.substr(20, 4);
  Engine engine(*model, *tok, {.parallel = 1, .ctx_size = 128, .eos_ids = eos});
  engine.start();
  Client c(engine);
  EngineRequest r = greedy(prompt, 40);
  r.stop = {stop};
  uint64_t id = c.submit(r);
  c.wait(1);
  EXPECT_EQ(c[id].text, full.substr(0, full.find(stop)));
  EXPECT_EQ(c[id].last.finish_reason, "stop");
  EXPECT_LT(c[id].ids.size(), 40u);
}

TEST_F(Stories, LogprobsAreTheModelsDistribution) {
  Engine engine(*model, *tok, {.parallel = 1, .ctx_size = 128, .eos_ids = eos});
  engine.start();
  Client c(engine);
  EngineRequest r = greedy(story_prompts(1)[0], 5);
  r.sampling.temperature = 0;
  r.sampling.logprobs = true;
  r.sampling.top_logprobs = 3;
  uint64_t id = c.submit(r);
  c.wait(1);
  ASSERT_EQ(c[id].tokens.size(), 5u);
  for (const GeneratedToken& g : c[id].tokens) {
    ASSERT_EQ(g.top.size(), 3u);
    EXPECT_EQ(g.top[0].id, g.id);  // greedy picks the most likely
    EXPECT_EQ(g.top[0].logprob, g.logprob);
    EXPECT_LE(g.logprob, 0.0f);
    EXPECT_GE(g.top[0].logprob, g.top[1].logprob);
    EXPECT_GE(g.top[1].logprob, g.top[2].logprob);
  }
}

// On a mesh the other processes are inside a call once it is announced: a call that then fails
// here goes to `abandon` (cmd_serve aborts the job there), not only to the keep-serving path.
TEST_F(Stories, AnnouncedCallThatFailsIsAbandoned) {
  Model broken = *model;
  broken.weights.at("model.layers.0.mlp.down_proj.weight") = Tensor::zeros({3, 5}, DType::F32);
  std::vector<SlotCall::Kind> announced;
  std::string abandoned;
  Engine engine(broken, *tok,
                {.parallel = 1,
                 .ctx_size = 64,
                 .eos_ids = eos,
                 .announce = [&](const SlotCall& c) { announced.push_back(c.kind); },
                 .abandon = [&](const std::exception& e) { abandoned = e.what(); }});
  Client c(engine);
  const uint64_t id = c.submit(greedy({1, 2, 3}, 4));
  engine.start();
  c.wait(1);
  ASSERT_FALSE(announced.empty());
  EXPECT_EQ(announced.back(), SlotCall::Kind::Forward);
  EXPECT_FALSE(abandoned.empty());
  EXPECT_EQ(c[id].last.finish_reason, "error");
  EXPECT_EQ(c[id].last.error, abandoned);
}

TEST_F(Stories, StopEndsRunningAndQueuedRequests) {
  Engine engine(*model, *tok, {.parallel = 2, .ctx_size = 256, .eos_ids = {}});
  Client c(engine);
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  for (int i = 0; i < 5; ++i)
    c.submit(greedy(story_prompts(5)[i], 250), [&](const Outcome&) {
      std::lock_guard lock(mu);
      started = true;
      cv.notify_all();
      return true;
    });
  engine.start();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  engine.stop();
  c.wait(5);  // every request got its last event
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(c[id].last.finish_reason, "error");
    EXPECT_EQ(c[id].last.error, "server shutting down");
  }
  try {
    engine.submit(greedy({1}, 5));
    FAIL() << "stopped";
  } catch (const SubmitError& e) {
    EXPECT_EQ(e.kind, SubmitError::Kind::Stopped);
  }
}

}  // namespace
}  // namespace purelm
