// Which files of a repo to fetch: include and exclude globs, matched as huggingface_hub does
// (Python's fnmatch: '*' also crosses '/'; a pattern ending in '/' means everything under it).
#pragma once

#include <string>
#include <vector>

namespace purelm::hub {

struct FileFilter {
  std::vector<std::string> include;  // empty: everything
  std::vector<std::string> exclude;
  bool matches(const std::string& path) const;
};

// What purelm reads (config and generation config, safetensors and their index, tokenizer files,
// chat templates), never pickles or other formats (*.bin, *.pth, *.onnx, *.gguf). The user's
// --include replaces both default lists; the user's --exclude adds to them.
FileFilter make_filter(const std::vector<std::string>& include,
                       const std::vector<std::string>& exclude);

}  // namespace purelm::hub
