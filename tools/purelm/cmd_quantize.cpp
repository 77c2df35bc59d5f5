// purelm quantize: write a checkpoint whose linear layers are stored in a block format (q8, q4),
// which later loads memory-mapped instead of being quantized again at every start.
#include <chrono>
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#include "purelm/models/quantize.h"
#include "purelm/options.h"
#include "purelm/train/hf_writer.h"

namespace purelm::cli {

namespace {

struct QuantizeArgs {
  std::string model, quant, out;
};

double gigabytes(const Model& m) {
  size_t bytes = 0;
  for (const auto& [name, t] : m.weights) bytes += t.nbytes();
  return double(bytes) / 1e9;
}

void run(const QuantizeArgs& a) {
  Model m = load_model(a.model);
  if (m.config.quant) fail(a.model, " is quantized already (", dtype_name(*m.config.quant), ")");
  const double before = gigabytes(m);
  const auto t0 = std::chrono::steady_clock::now();
  quantize_model(m, *parse_quant(a.quant));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "quantized to %s in %.1f s: weights %.2f GB -> %.2f GB\n", a.quant.c_str(),
               seconds, before, gigabytes(m));
  const FileSet files = read_tokenizer_files(m.dir);
  replace_folder(a.out,
                 [&](const std::string& tmp) { write_model(tmp, m, files, write_progress()); });
  std::printf("%s\n", a.out.c_str());
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd =
      app.add_subcommand("quantize", "Write a checkpoint with q8 or q4 weights, for inference")
          ->footer(
              "The linear layers are stored in the block format (the output projection in q8),\n"
              "norms and embeddings as they are; the folder loads in generate, chat, forward, "
              "eval\n"
              "and bench without --quant, memory-mapped. Tokenizer files are copied.");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--quant", a->quant, "q8 (8.5 bits per weight) or q4 (4.5 bits)")
      ->required()
      ->check(CLI::IsMember({"q8", "q4"}));
  cmd->add_option("--out", a->out, "Folder to write (replaced atomically)")->required();
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
