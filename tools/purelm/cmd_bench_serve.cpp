// purelm bench-serve: N concurrent streaming clients against a running `purelm serve`.
#include <cstdio>
#include <memory>

#include "bench/serve_load.h"
#include "purelm/commands.h"

namespace purelm::cli {

void add_bench_serve(CLI::App& app) {
  auto o = std::make_shared<bench::ServeLoadOptions>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("bench-serve",
                         "Load a running `purelm serve` (or another OpenAI-compatible server, e.g. "
                         "llama-server) with concurrent streaming clients");
  cmd->add_option("--host", o->host, "Server address")->capture_default_str();
  cmd->add_option("--port", o->port, "Server port")->capture_default_str();
  cmd->add_option("--api-key", o->api_key, "The server's --api-key, if it has one");
  cmd->add_option("--clients", o->clients, "Concurrent clients")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--requests", o->requests, "Requests in all")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", o->max_seconds, "Start no request after this many seconds")
      ->capture_default_str();
  cmd->add_option("--prompt-tokens", o->prompt_tokens, "Mean prompt length (uniform, +-50%)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output-tokens", o->output_tokens, "Mean max_tokens (uniform, +-50%)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "Seed of the lengths and prompts")->capture_default_str();
  cmd->add_flag("--json", *as_json, "Print the figures as JSON");
  cmd->callback([o, as_json] {
    nlohmann::ordered_json r = bench::serve_load(*o);
    std::fputs(*as_json ? (r.dump(2) + "\n").c_str() : bench::serve_load_table(r).c_str(), stdout);
  });
}

}  // namespace purelm::cli
