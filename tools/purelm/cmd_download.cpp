// purelm download: a model repo from the HuggingFace Hub into the HuggingFace cache (shared with
// huggingface_hub), or into a folder; prints where the files are.
#include <cstdio>
#include <memory>
#include <optional>

#include "purelm/commands.h"
#include "purelm/core/error.h"
#include "purelm/hub/download.h"
#include "purelm/hub/progress.h"
#include "purelm/io/hf_folder.h"

namespace purelm::cli {

namespace {

struct DownloadArgs {
  std::string repo;
  hub::DownloadOptions opt;
};

void run(DownloadArgs a) {
  const std::optional<RepoSpec> rs = parse_repo_spec(a.repo);
  check(rs.has_value(), "'", a.repo, "' is not a HuggingFace repo id (ORG/NAME or ORG/NAME@REV)");
  if (!rs->revision.empty()) {
    check(a.opt.revision == "main" || a.opt.revision == rs->revision, "'", a.repo,
          "' names revision '", rs->revision, "' and --revision says '", a.opt.revision,
          "': give one");
    a.opt.revision = rs->revision;
  }
  hub::DownloadResult r = hub::download_repo(rs->repo, a.opt);
  std::fprintf(stderr, "%s at %s: %d file(s), %d downloaded (%s)\n", a.repo.c_str(),
               r.commit.substr(0, 12).c_str(), r.files, r.downloaded,
               hub::format_bytes(r.bytes).c_str());
  std::printf("%s\n", r.dir.c_str());
}

}  // namespace

void add_download(CLI::App& app) {
  auto a = std::make_shared<DownloadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "download",
      "Download a model from the HuggingFace Hub into the HuggingFace cache (HF_HOME, "
      "HF_HUB_CACHE; HF_ENDPOINT, HF_TOKEN as huggingface_hub reads them)");
  cmd->add_option("repo", a->repo, "Repo id, ORG/NAME, or ORG/NAME@REV for a branch, tag or commit")
      ->required();
  cmd->add_option("--revision", a->opt.revision, "Branch, tag or commit")->capture_default_str();
  cmd->add_option("--include", a->opt.include,
                  "Only files matching these globs (default: *.json *.safetensors tokenizer* "
                  "*.jinja)");
  cmd->add_option("--exclude", a->opt.exclude,
                  "Not files matching these globs (default without --include: *.bin *.pth *.pt "
                  "*.onnx *.gguf *.h5 *.msgpack)");
  cmd->add_option("--local-dir", a->opt.local_dir, "Into this folder instead of the cache");
  cmd->add_option("--max-workers", a->opt.max_workers, "Files downloaded at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
