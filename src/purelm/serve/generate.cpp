#include "purelm/serve/generate.h"

#include <algorithm>
#include <chrono>

#include "purelm/serve/engine.h"

namespace purelm {

std::vector<std::vector<int32_t>> generate(const Model& m,
                                           const std::vector<std::vector<int32_t>>& prompts,
                                           const GenerateOptions& opt,
                                           const std::function<bool(size_t, int32_t)>& on_token,
                                           GenerateStats* stats) {
  const int64_t B = int64_t(prompts.size());
  if (B == 0) return {};
  size_t longest = 0;
  for (const auto& p : prompts) {
    check(!p.empty(), "generate: a prompt is empty (give at least one token, e.g. BOS)");
    longest = std::max(longest, p.size());
  }
  const int64_t S =
      std::min<int64_t>(int64_t(longest) + opt.max_tokens, m.config.max_position_embeddings);
  check(int64_t(longest) < S, "prompt of ", longest, " tokens leaves no room in the context of ",
        m.config.max_position_embeddings);
  EngineOptions eo;
  eo.parallel = B;
  eo.ctx_size = S;
  eo.queue_limit = 0;
  eo.prefill_chunk = int64_t(longest);  // each prompt in one forward
  eo.kv_dtype = opt.kv_dtype;
  eo.eos_ids = opt.eos_ids;
  Engine engine(m, eo);

  std::vector<std::vector<int32_t>> out(prompts.size());
  GenerateStats st;
  std::string error;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < B; ++i) {
    EngineRequest r;
    r.prompt = prompts[i];
    r.max_tokens = opt.max_tokens;
    r.sampling.temperature = opt.sampler.temperature;
    r.sampling.top_k = opt.sampler.top_k;
    r.sampling.top_p = opt.sampler.top_p;
    r.sampling.min_p = opt.sampler.min_p;
    r.sampling.repetition_penalty = opt.sampler.repetition_penalty;
    r.sampling.seed = opt.sampler.seed + uint64_t(i);
    r.on_event = [&, i](const EngineEvent& e) {
      for (const GeneratedToken& t : e.tokens) {
        out[i].push_back(t.id);
        if (on_token && !on_token(size_t(i), t.id)) return false;
      }
      if (e.done) {
        if (e.finish_reason == "error") error = e.error;
        st.prefill_seconds = std::max(st.prefill_seconds, e.time_to_first_token);
      }
      return true;
    };
    engine.submit(std::move(r));
  }
  engine.run();
  check(error.empty(), "generate: ", error);
  for (int64_t i = 0; i < B; ++i) {
    st.prompt_tokens += int64_t(prompts[i].size());
    st.generated_tokens += int64_t(out[i].size());
  }
  st.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() -
                      st.prefill_seconds;
  if (stats) *stats = st;
  return out;
}

}  // namespace purelm
