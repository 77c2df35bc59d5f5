// Each subcommand lives in its own cmd_*.cpp and registers itself on the top-level app.
#pragma once

#include <CLI/CLI.hpp>

namespace purelm::cli {

void add_forward(CLI::App& app);
void add_generate(CLI::App& app);

}  // namespace purelm::cli
