// purelm tokenize: text to token ids and back, with a checkpoint's tokenizer.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "purelm/commands.h"
#include "purelm/core/error.h"
#include "purelm/io/hf_folder.h"
#include "purelm/options.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

namespace {

struct TokenizeArgs {
  std::string model, text, file, decode;
  bool no_special = false, skip_special = false;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  check(f.good(), "cannot read ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void run(const TokenizeArgs& a, bool have_text) {
  Tokenizer tok = Tokenizer::load(resolve_model_dir(a.model));
  if (!a.decode.empty()) {
    std::string text = tok.decode(parse_ids(a.decode), a.skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return;
  }
  std::string text = have_text ? a.text : read_file(a.file);
  std::printf("%s\n", join_ids(tok.encode(text, !a.no_special)).c_str());
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids to text");
  cmd->add_option(
         "--model", a->model,
         "Folder with tokenizer.json (a checkpoint or just tokenizer files), or HF repo id")
      ->required();
  auto* text = cmd->add_option("--text", a->text, "Text to encode");
  auto* file = cmd->add_option("--file", a->file, "File to encode, whole, as one text");
  auto* decode = cmd->add_option("--decode", a->decode, "Comma-separated ids to decode");
  text->excludes(file)->excludes(decode);
  file->excludes(decode);
  cmd->add_flag("--no-special", a->no_special,
                "Do not add the post-processor's special tokens (e.g. BOS)");
  cmd->add_flag("--skip-special", a->skip_special,
                "With --decode: leave special tokens out of the text");
  cmd->callback([a, cmd, text] {
    check(cmd->count("--text") + cmd->count("--file") + cmd->count("--decode") == 1,
          "tokenize: give one of --text, --file or --decode");
    run(*a, text->count() > 0);
  });
}

}  // namespace purelm::cli
