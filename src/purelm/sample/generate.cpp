#include "purelm/sample/generate.h"

#include <algorithm>
#include <chrono>

#include "purelm/ops/matmul.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<float> last_logits(const Model& m, const Tensor& h) {
  int64_t B = h.dim(0), T = h.dim(1), D = h.dim(2);
  Tensor last = Tensor::empty({B, D}, h.dtype());
  std::vector<float> row(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b) {
    load_f32(h, (b * T + T - 1) * D, D, row.data());
    store_f32(last, b * D, D, row.data());
  }
  return linear_whole(last, m.output_weight()).to_vector();
}

std::vector<std::vector<int32_t>> generate(const Model& m,
                                           const std::vector<std::vector<int32_t>>& prompts,
                                           const GenerateOptions& opt,
                                           const std::function<bool(size_t, int32_t)>& on_token,
                                           GenerateStats* stats) {
  int64_t B = int64_t(prompts.size()), V = m.config.vocab_size;
  size_t longest = 0;
  for (const auto& p : prompts) {
    check(!p.empty(), "generate: a prompt is empty (give at least one token, e.g. BOS)");
    longest = std::max(longest, p.size());
  }
  int64_t S =
      std::min<int64_t>(int64_t(longest) + opt.max_tokens, m.config.max_position_embeddings);
  check(int64_t(longest) < S, "prompt of ", longest, " tokens leaves no room in the context of ",
        m.config.max_position_embeddings);
  KVCache kv = init_kv(m.config, B, S, opt.kv_dtype);
  Sampler sampler(opt.sampler);
  std::vector<std::vector<int32_t>> out(prompts.size());
  std::vector<std::vector<int32_t>> history = prompts;
  std::vector<float> logits(static_cast<size_t>(B * V));
  GenerateStats st;

  auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < B; ++b) {  // prompts differ in length: prefill row by row
    kv.use_rows({b});
    Tensor ids = Tensor::from_i32(prompts[b], {1, int64_t(prompts[b].size())});
    std::vector<float> z = last_logits(m, m.hidden(ids, &kv));
    std::copy(z.begin(), z.end(), logits.begin() + b * V);
    st.prompt_tokens += int64_t(prompts[b].size());
  }
  kv.use_all_rows();
  st.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<int32_t> next(static_cast<size_t>(B), 0);
  for (int64_t step = 0; step < opt.max_tokens; ++step) {
    bool any = false;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      int32_t t = sampler.next(&logits[b * V], V, history[b]);
      bool eos = std::find(opt.eos_ids.begin(), opt.eos_ids.end(), t) != opt.eos_ids.end();
      if (!eos) {
        out[b].push_back(t);
        history[b].push_back(t);
        ++st.generated_tokens;
      }
      done[b] = eos || (on_token && !on_token(size_t(b), t)) || kv.len[b] >= S;
      next[b] = t;
      any = any || !done[b];
    }
    if (!any || step + 1 == opt.max_tokens) break;
    // Finished rows ride along (their output is ignored) so the batch keeps its shape.
    for (int64_t b = 0; b < B; ++b)
      if (done[b]) kv.truncate(b, std::min(kv.len[b], S - 1));
    logits = last_logits(m, m.hidden(Tensor::from_i32(next, {B, 1}), &kv));
  }
  st.decode_seconds = seconds_since(t0);
  if (stats) *stats = st;
  return out;
}

}  // namespace purelm
