// purelm: the command line. Thin: parses flags and calls the library.
#include <malloc.h>

#include <cstdio>
#include <exception>

#include "purelm/commands.h"
#include "purelm/hub/download.h"

namespace {

// The one place --model is looked at before a command runs: a repo id the cache lacks is
// downloaded (unless HF_HUB_OFFLINE=1), so every command can then resolve it.
void fetch_missing_models(CLI::App& app) {
  for (CLI::App* cmd : app.get_subcommands()) {
    const CLI::Option* model = cmd->get_option_no_throw("--model");
    if (model && model->count() > 0) purelm::hub::ensure_model(model->as<std::string>());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Every op allocates and frees tensors of megabytes. By default glibc maps the larger ones
  // afresh and trims freed memory back to the OS, so the next op page-faults it in again, zeroed
  // by the kernel: a tenth of a training step. Map only what exceeds 32 MB, and keep the rest.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, -1);
  CLI::App app{
      "purelm: pure, minimal and fast language models.\n"
      "Trains and runs Qwen3, Qwen3-MoE, Llama and OLMo 2 straight from HuggingFace checkpoints."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");
  purelm::cli::add_forward(app);
  purelm::cli::add_generate(app);
  purelm::cli::add_init(app);
  purelm::cli::add_train(app);
  purelm::cli::add_chat(app);
  purelm::cli::add_tokenize(app);
  purelm::cli::add_train_tokenizer(app);
  purelm::cli::add_bench(app);
  purelm::cli::add_eval(app);
  purelm::cli::add_quantize(app);
  purelm::cli::add_download(app);
  purelm::cli::add_serve(app);
  purelm::cli::add_bench_serve(app);
  app.parse_complete_callback([&app] { fetch_missing_models(app); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "purelm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
