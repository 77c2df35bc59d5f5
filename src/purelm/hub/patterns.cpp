#include "purelm/hub/patterns.h"

#include <fnmatch.h>

namespace purelm::hub {

namespace {

bool any_match(const std::vector<std::string>& patterns, const std::string& path) {
  for (std::string p : patterns) {
    if (!p.empty() && p.back() == '/') p += '*';
    if (fnmatch(p.c_str(), path.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool FileFilter::matches(const std::string& path) const {
  return (include.empty() || any_match(include, path)) && !any_match(exclude, path);
}

FileFilter make_filter(const std::vector<std::string>& include,
                       const std::vector<std::string>& exclude) {
  FileFilter f;
  if (include.empty()) {
    f.include = {"*.json", "*.safetensors", "tokenizer*", "*.jinja"};
    f.exclude = {"*.bin", "*.pth", "*.pt", "*.onnx", "*.gguf", "*.h5", "*.msgpack"};
  } else {
    f.include = include;
  }
  f.exclude.insert(f.exclude.end(), exclude.begin(), exclude.end());
  return f;
}

}  // namespace purelm::hub
