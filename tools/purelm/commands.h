// Each subcommand lives in its own cmd_*.cpp and registers itself on the top-level app.
#pragma once

#include <CLI/CLI.hpp>

namespace purelm::cli {

void add_forward(CLI::App& app);
void add_generate(CLI::App& app);
void add_init(CLI::App& app);
void add_train(CLI::App& app);
void add_chat(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_train_tokenizer(CLI::App& app);
void add_bench(CLI::App& app);
void add_eval(CLI::App& app);
void add_quantize(CLI::App& app);
void add_download(CLI::App& app);
void add_serve(CLI::App& app);
void add_bench_serve(CLI::App& app);

}  // namespace purelm::cli
