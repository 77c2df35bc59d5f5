// purelm bench: the seed-style tables (machine limits, decode, prefill, training, tokenizer).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "bench/bench.h"
#include "purelm/commands.h"
#include "purelm/core/thread_pool.h"
#include "purelm/mesh_options.h"
#include "purelm/options.h"

namespace purelm::cli {

namespace {

// English prose, and a page of many scripts, emoji, combining marks and code (both in the repo).
const char* const kDefaultTexts[] = {"data/tinyshakespeare.txt", "data/mixed_scripts.txt"};

struct BenchArgs {
  bench::Options opt;
  int threads = 0;
  bool json = false, no_train = false;
  std::string kv_cache = "f32", quant = "none";
  MeshArgs mesh;
};

// The workloads' shapes: each value of the list a positive whole number.
CLI::Validator positive_sizes(const std::string& what, const std::string& example) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        int64_t v = 0;
        if (CLI::detail::lexical_cast(s, v) && v > 0) return "";
        return what + " must be positive whole numbers, e.g. " + example + "; got '" + s + "'";
      },
      "");
}

void print(const BenchArgs& a, const nlohmann::ordered_json& report) {
  if (a.json)
    std::printf("%s\n", report.dump(2).c_str());
  else
    std::fputs(bench::format_tables(report).c_str(), stdout);
}

void run(BenchArgs a, bool text_given) {
  a.opt.train = !a.no_train;
  a.opt.kv_dtype = parse_compute_dtype(a.kv_cache);
  a.opt.quant = parse_quant(a.quant);
#if PURELM_MESH
  if (on_mesh(a.mesh)) {  // all processes on the TP axis unless told otherwise, as generate
    run_on_mesh(a.mesh, true, [&](const dist::Mesh& mesh) {
      if (a.threads) set_num_threads(a.threads);  // else run_on_mesh's share of the cores
      print(a, bench::run(a.opt, mesh));          // only the leader's output is shown
    });
    return;
  }
#endif
  set_num_threads(a.threads);
  if (!text_given)
    for (const char* text : kDefaultTexts)
      if (std::filesystem::exists(text)) a.opt.tokenizer_texts.push_back(text);
  print(a, bench::run(a.opt));
}

}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Measure the machine's limits and a model's speed against them")
          ->footer(
              "Presets (ARCH:PRESET, e.g. qwen3:0.6B) are initialised in memory in bf16; nothing "
              "is written.\nThe tokenizer is timed on data/tinyshakespeare.txt and "
              "data/mixed_scripts.txt when they exist.\nUnder mpirun (--tp X --fsdp Y, default all "
              "TP) every process runs each workload on its part of the model; the report adds\n"
              "each axis's collectives per step and each process's memory (docs/mesh.md).");
  cmd->add_option("--model", a->opt.model, "Checkpoint folder, HuggingFace repo id or ARCH:PRESET")
      ->required();
  cmd->add_option("--threads", a->threads,
                  "Threads (default: all cores; on a mesh, per process: the cores over the "
                  "processes on the machine)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", a->json, "Print the figures as one JSON object instead of tables");
  cmd->add_flag("--quick", a->opt.quick, "Fewer repetitions: rougher figures, sooner");
  cmd->add_option("--batch", a->opt.decode_batches,
                  "Decode batch sizes B, comma-separated: a row of the decode table each")
      ->delimiter(',')
      ->check(positive_sizes("batch sizes", "1,8,32"))
      ->capture_default_str();
  cmd->add_option("--prompt", a->opt.prefill_tokens,
                  "Prompt lengths T to prefill, comma-separated: a row of the prefill table each")
      ->delimiter(',')
      ->check(positive_sizes("prompt lengths", "512,4096"))
      ->capture_default_str();
  cmd->add_flag("--no-train", a->no_train, "Skip the training step");
  add_kv_cache_option(cmd, &a->kv_cache);
  add_quant_option(cmd, &a->quant);
  cmd->add_option("--tokenizer", a->opt.tokenizer,
                  "Tokenizer folder to time (default: the checkpoint's, if any)");
  CLI::Option* text = cmd->add_option("--tokenizer-text", a->opt.tokenizer_texts,
                                      "Text file(s) to time encoding on");
  add_mesh_options(cmd, &a->mesh);
  cmd->callback([a, text] { run(*a, text->count() > 0); });
}

}  // namespace purelm::cli
