// Finding a checkpoint: a folder, or a repo id in the local HuggingFace cache.
#pragma once

#include <string>

namespace purelm {

// `spec` is a folder path, or "ORG/NAME" looked up as
// $HF_HOME/hub/models--ORG--NAME/snapshots/<refs/main>/ (HF_HOME defaults to ~/.cache/huggingface;
// HF_HUB_CACHE overrides the hub folder). Throws with what was tried when nothing is found.
std::string resolve_model_dir(const std::string& spec);

}  // namespace purelm
