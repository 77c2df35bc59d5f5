// purelm bench on a mesh: every process runs each workload on its part of the model, in step with
// the others, and the leader reports, besides the usual rows, what only a mesh has: the time and
// bytes of each axis's collectives per step, and each process's memory.
#include <cstdio>
#include <utility>

#include "bench/bench.h"
#include "bench/report.h"
#include "purelm/core/thread_pool.h"
#include "purelm/dist/train_mesh.h"
#include "purelm/io/hf_folder.h"
#include "purelm/models/family.h"
#include "purelm/train/init.h"
#include "purelm/train/presets.h"

namespace purelm::bench {

namespace {

using Json = nlohmann::ordered_json;

// Wall time, and seconds and bytes sent in collectives on each axis, so far.
struct Counters {
  double seconds = 0, tp_s = 0, fsdp_s = 0, tp_bytes = 0, fsdp_bytes = 0;
};

Counters operator-(const Counters& a, const Counters& b) {
  return {a.seconds - b.seconds, a.tp_s - b.tp_s, a.fsdp_s - b.fsdp_s, a.tp_bytes - b.tp_bytes,
          a.fsdp_bytes - b.fsdp_bytes};
}

Counters& operator+=(Counters& a, const Counters& b) {
  a.seconds += b.seconds;
  a.tp_s += b.tp_s;
  a.fsdp_s += b.fsdp_s;
  a.tp_bytes += b.tp_bytes;
  a.fsdp_bytes += b.fsdp_bytes;
  return a;
}

// Keeps the processes' timed runs in step (harness.h: Agree): another run while any process wants
// one. Records what each timed run took, one series per best_seconds call.
class Lockstep {
 public:
  struct Series {
    int runs = 0;
    Counters sum;
  };
  explicit Lockstep(const dist::Mesh& mesh) : mesh_(mesh) {}

  bool agree(bool more) {
    if (running_) {  // a timed run just ended
      ++series_.runs;
      series_.sum += counters() - start_;
    }
    double wanted = more ? 1 : 0;
    mesh_.world().all_reduce_sum(&wanted, 1);  // the world's counters are not an axis's
    running_ = wanted > 0;
    if (running_)
      start_ = counters();
    else
      done_.push_back(std::exchange(series_, {}));
    return running_;
  }
  std::vector<Series> take() { return std::exchange(done_, {}); }

 private:
  const dist::Mesh& mesh_;
  bool running_ = false;
  Counters start_;
  Series series_;
  std::vector<Series> done_;

  Counters counters() const {
    return {now(), mesh_.tp().seconds(), mesh_.fsdp().seconds(), double(mesh_.tp().bytes()),
            double(mesh_.fsdp().bytes())};
  }
};

// The whole model's config and a source of its weights, one at a time: a preset drawn at random in
// bf16 as on one process (each weight a pure function of its name, so every process draws the
// same), or a checkpoint's, memory-mapped.
std::pair<Config, WeightSource> whole_model(const std::string& spec) {
  if (auto preset = parse_model_preset(spec)) {
    Config c = preset_config(preset->first, preset->second, DType::BF16);
    return {c, random_weights(c, 0)};
  }
  const std::string dir = resolve_model_dir(spec);
  return {load_config(dir + "/config.json"), checkpoint_weights(dir)};
}

// One row per axis that has collectives (more than one process): this process's means per step
// over the series' timed runs of `steps` steps each.
void add_collectives(Json& rows, const std::string& workload, const Lockstep::Series& s,
                     int64_t steps, const dist::Mesh& mesh) {
  const double n = double(s.runs) * double(steps);
  const std::pair<const dist::Group*, std::pair<double, double>> axes[] = {
      {&mesh.tp(), {s.sum.tp_s, s.sum.tp_bytes}}, {&mesh.fsdp(), {s.sum.fsdp_s, s.sum.fsdp_bytes}}};
  for (const auto& [group, sb] : axes)
    if (group->size() > 1)
      rows.push_back({{"workload", workload},
                      {"axis", group->name()},
                      {"step_ms", s.sum.seconds / n * 1e3},
                      {"collective_ms", sb.first / n * 1e3},
                      {"mb_sent", sb.second / n / 1e6},
                      {"share", sb.first / s.sum.seconds}});
}

// v of every process, in rank order, on every process.
std::vector<double> per_process(const dist::Mesh& mesh, double v) {
  std::vector<double> all(static_cast<size_t>(mesh.size()), 0.0);
  all[static_cast<size_t>(mesh.rank())] = v;
  mesh.world().all_reduce_sum(all.data(), int64_t(all.size()));
  return all;
}

// Each process's peak resident memory and the parameters it keeps, in rank order; once trained,
// float32 parameters with AdamW's two float32 moments each.
Json memory_json(const dist::Mesh& mesh, const dist::MeshModel& mm, bool trained) {
  const std::vector<double> rss = per_process(mesh, double(dist::peak_rss_bytes())),
                            params = per_process(mesh, double(mm.local_param_bytes()));
  Json rows = Json::array();
  for (size_t i = 0; i < rss.size(); ++i) {
    Json row = {{"peak_rss_mb", rss[i] / 1e6}, {"param_mb", params[i] / 1e6}};
    if (trained) row["adamw_mb"] = 2 * params[i] / 1e6;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

nlohmann::ordered_json run(const Options& o, const dist::Mesh& mesh) {
  const Budgets b = budgets(o.quick);
  std::fprintf(stderr, "bench: machine limits, measured by all %d processes at once\n",
               mesh.size());
  const MachineLimits lim = measure_machine(b.machine, [&] { mesh.world().barrier(); });
  double sums[] = {lim.read_gbs_all, lim.f32_gflops, lim.bf16_gflops, lim.f32_peak_gflops,
                   lim.bf16_peak_gflops};
  mesh.world().all_reduce_sum(sums, 5);
  MachineLimits against = lim;  // bandwidth: this process's share; matmul peaks: the mesh's
  against.f32_gflops = sums[1];
  against.bf16_gflops = sums[2];
  against.f32_peak_gflops = sums[3];
  against.bf16_peak_gflops = sums[4];
  // The read test's buffer is gone: the peak from here on is the model's and the workloads'.
  const bool rss_reset = dist::reset_peak_rss();

  std::fprintf(stderr, "bench: loading %s on a %s\n", o.model.c_str(), mesh.describe().c_str());
  const auto [config, source] = whole_model(o.model);
  dist::TrainMesh dp(mesh);
  Model& m = dp.build(config, source, DType::BF16);
  if (o.quant) dp.mesh_model().quantize(*o.quant);
  Lockstep lockstep(mesh);
  const Place at{&config, mesh.fsdp().size(), [&](bool more) { return lockstep.agree(more); }, &dp};
  Json r = {{"machine", machine_json(lim)},
            {"model", model_json(o.model, config,
                                 m.config.quant.value_or(m.output_weight().dtype()), m.act)},
            {"mesh",
             {{"processes", mesh.size()},
              {"tp", mesh.tp().size()},
              {"fsdp", mesh.fsdp().size()},
              {"processes_per_machine", mesh.local_size()},
              {"threads_per_process", num_threads()},
              {"limits", "measured by every process at once; machine: the leader's share"},
              {"read_gbs_all_sum", sums[0]},
              {"f32_gflops_sum", sums[1]},
              {"bf16_gflops_sum", sums[2]}}}};
  std::fprintf(stderr,
               "bench: attention alone and the tokenizer run on one process: not on a mesh\n");

  Json collectives = Json::array();
  add_inference(r, o, b, against, m, at);
  std::vector<Lockstep::Series> series = lockstep.take();  // decode at each B, then each prefill
  const size_t decodes = o.decode_batches.size();
  for (size_t i = 0; i < decodes; ++i)
    add_collectives(collectives, "decode B = " + std::to_string(o.decode_batches[i]), series[i],
                    o.decode_steps, mesh);
  for (size_t i = 0; i < o.prefill_tokens.size(); ++i)
    add_collectives(collectives, "prefill T = " + std::to_string(o.prefill_tokens[i]),
                    series[decodes + i], 1, mesh);
  const bool train = o.train && !m.config.quant;
  if (o.train && !train)
    std::fprintf(stderr,
                 "bench: quantized weights cannot be trained: skipping the training step\n");
  if (train) {
    add_training(r, o, b, against, m, at);
    series = lockstep.take();
    for (size_t i = 0; i < series.size(); ++i) {
      const Json& t = r["train"][i];
      add_collectives(collectives,
                      "train " + std::to_string(o.train_batch) + " x " +
                          std::to_string(o.train_seq) + " " + t["compute"].get<std::string>() +
                          (t["recompute"].get<bool>() ? " recompute" : ""),
                      series[i], 1, mesh);
    }
  }
  r["mesh"]["collectives"] = collectives;
  r["mesh"]["peak_rss_since"] =
      rss_reset ? "the machine limits (their buffers freed)" : "the process started";
  r["mesh"]["memory"] = memory_json(mesh, dp.mesh_model(), train);
  return r;
}

}  // namespace purelm::bench
