// Whole-file reads for the small text files of a checkpoint and for training corpora.
#pragma once

#include <string>

namespace purelm {

// The file's bytes, unchanged; throws purelm::Error naming the file and the system's reason.
std::string read_text_file(const std::string& path);

}  // namespace purelm
