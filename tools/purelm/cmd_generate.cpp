// purelm generate: continue prompts (text or token ids) with a model, streaming text as it comes.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "purelm/commands.h"
#include "purelm/mesh_options.h"
#include "purelm/models/model.h"
#include "purelm/options.h"
#include "purelm/sample/generate.h"
#include "purelm/sample/generation_config.h"
#include "purelm/sample/text_stream.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

namespace {

struct GenerateArgs {
  std::string model, tokenizer, prompt, prompt_ids, prompt_file, dtype = "f32", kv_cache = "f32",
                                                                 quant = "none";
  int64_t max_tokens = 256;
  SamplerFlags sampling;
  std::vector<std::string> stop;
  bool print_ids = false, ignore_eos = false, no_special = false;
  MeshArgs mesh;
};

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream f(path);
  check(f.good(), "cannot read prompt file ", path);
  std::vector<std::string> prompts;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] != '{') {
      prompts.push_back(line);
      continue;
    }
    auto j = nlohmann::json::parse(line, nullptr, false);  // JSONL: {"prompt": "..."}
    check(j.is_object() && j.contains("prompt") && j["prompt"].is_string(), path, " line ",
          std::to_string(n), ": expected plain text or {\"prompt\": \"...\"}");
    prompts.push_back(j["prompt"].get<std::string>());
  }
  check(!prompts.empty(), "prompt file ", path, " holds no prompts");
  return prompts;
}

void run(const GenerateArgs& a, const Model& m) {
  std::optional<Tokenizer> tok;
  if (a.prompt_ids.empty() || !a.print_ids)
    tok = Tokenizer::load(a.tokenizer.empty() ? m.dir : a.tokenizer);

  std::vector<int64_t> tok_eos;
  if (tok && tok->eos_id()) tok_eos.push_back(*tok->eos_id());
  GenerationDefaults d = generation_defaults(m, tok_eos);
  GenerateOptions opt;
  opt.max_tokens = a.max_tokens;
  opt.sampler = a.sampling.over(d.sampler);
  opt.kv_dtype = parse_compute_dtype(a.kv_cache);
  if (!a.ignore_eos) opt.eos_ids = d.eos_ids;

  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> texts;
  if (!a.prompt_ids.empty())
    prompts.push_back(parse_ids(a.prompt_ids));
  else
    texts =
        a.prompt_file.empty() ? std::vector<std::string>{a.prompt} : read_prompts(a.prompt_file);
  for (const std::string& t : texts) prompts.push_back(tok->encode(t, !a.no_special));

  bool stream = prompts.size() == 1 && !a.print_ids;
  std::vector<TextStream> streams;
  if (tok)
    for (size_t i = 0; i < prompts.size(); ++i) streams.emplace_back(*tok, a.stop);
  std::vector<std::string> outputs(prompts.size());
  auto on_token = [&](size_t row, int32_t id) {
    if (streams.empty()) return true;
    std::string piece = streams[row].push(id);
    outputs[row] += piece;
    if (stream) {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    }
    return !streams[row].stopped();
  };
  GenerateStats st;
  auto out = generate(m, prompts, opt, on_token, &st);
  for (size_t i = 0; i < streams.size(); ++i) {
    std::string rest = streams[i].finish();
    outputs[i] += rest;
    if (stream) std::printf("%s\n", rest.c_str());
  }
  if (a.print_ids) {
    for (const auto& ids : out) std::printf("%s\n", join_ids(ids).c_str());
  } else if (!stream) {
    for (size_t i = 0; i < outputs.size(); ++i)
      std::printf("%s\n", nlohmann::json{{"prompt", texts.empty() ? "" : texts[i]},
                                         {"completion", outputs[i]}}
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                              .c_str());
  }
  std::fflush(stdout);  // the summary goes after the text when both reach one terminal
  std::fprintf(stderr,
               "[%zu prompt(s): %lld prompt tokens, %lld generated; prefill %.1f tok/s, decode "
               "%.1f tok/s]\n",
               prompts.size(), (long long)st.prompt_tokens, (long long)st.generated_tokens,
               double(st.prompt_tokens) / std::max(st.prefill_seconds, 1e-9),
               double(st.generated_tokens) / std::max(st.decode_seconds, 1e-9));
}

}  // namespace

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd =
      app.add_subcommand("generate", "Continue a prompt with a model")
          ->footer(
              "Sampling defaults come from the checkpoint's generation_config.json (greedy when "
              "absent);\n"
              "flags given here override them. Generation stops at an EOS token, a --stop string,\n"
              "--max-tokens, or the model's context length.");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "Tokenizer folder (default: the model's)");
  cmd->add_option("--prompt", a->prompt, "Prompt text");
  cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  cmd->add_option(
      "--prompt-file", a->prompt_file,
      "Many prompts, run as one batch: one per line, or JSONL {\"prompt\": ...}; prints JSONL");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_sampler_flags(cmd, &a->sampling);
  cmd->add_option("--stop", a->stop, "Stop when this text appears (repeatable)");
  cmd->add_flag("--print-ids", a->print_ids,
                "Print only the new token ids, comma-separated, one line per prompt");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at end-of-sequence tokens");
  cmd->add_flag("--no-special", a->no_special,
                "Do not add the tokenizer's special tokens (e.g. BOS) to text prompts");
  add_dtype_option(cmd, &a->dtype);
  add_kv_cache_option(cmd, &a->kv_cache);
  add_quant_option(cmd, &a->quant);
  add_mesh_options(cmd, &a->mesh);
  cmd->callback([a] {
    int given = !a->prompt.empty() + !a->prompt_ids.empty() + !a->prompt_file.empty();
    check(given == 1, "give exactly one of --prompt, --prompt-ids or --prompt-file");
    DType act = parse_compute_dtype(a->dtype);
#if PURELM_MESH
    if (on_mesh(a->mesh))  // every process runs the same loop; greedy or seeded, they agree
      return run_on_mesh(a->mesh, true, [&](const dist::Mesh& mesh) {
        dist::MeshModel mm(mesh, a->model, act);
        apply_quant(mm, a->quant);
        run(*a, mm.model());
      });
#endif
    Model m = load_model(a->model, act);
    apply_quant(m, a->quant);
    run(*a, m);
  });
}

}  // namespace purelm::cli
