// Finding a checkpoint: a folder, or a repo id in the local HuggingFace cache.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace purelm {

// An environment variable with surrounding whitespace trimmed; "" when unset.
std::string hf_env(const char* name);
// $HF_HOME as huggingface_hub defaults it: $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface;
// empty when none of these is set.
std::filesystem::path hf_home();
// The hub cache folder as huggingface_hub finds it: HF_HUB_CACHE, else $HF_HOME/hub, HF_HOME
// defaulting to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface.
std::filesystem::path hub_cache_dir();
// A repo's folder in it: models--ORG--NAME.
std::filesystem::path repo_cache_dir(const std::string& repo_id);
// "ORG/NAME": one '/', two non-empty parts, not a relative path such as "./x".
bool is_repo_id(const std::string& s);

// A --model that names a repo: "ORG/NAME", or "ORG/NAME@REV" for a branch, tag or commit.
struct RepoSpec {
  std::string repo;      // ORG/NAME
  std::string revision;  // empty: main
};
// The repo and revision `spec` names, or none when it is not of those forms.
std::optional<RepoSpec> parse_repo_spec(const std::string& spec);
// A full commit sha: 40 lowercase hex digits.
bool is_commit(const std::string& revision);

// `spec` is a folder path, or "ORG/NAME" looked up as
// $HF_HOME/hub/models--ORG--NAME/snapshots/<refs/main>/ (HF_HOME defaults to ~/.cache/huggingface;
// HF_HUB_CACHE overrides the hub folder), or "ORG/NAME@REV": snapshots/<refs/REV>/ for a branch or
// tag, snapshots/REV/ for a commit. Throws with what was tried when nothing is found.
std::string resolve_model_dir(const std::string& spec);

}  // namespace purelm
