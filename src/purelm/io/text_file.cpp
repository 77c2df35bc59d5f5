#include "purelm/io/text_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "purelm/core/error.h"

namespace purelm {

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec), "cannot read '", path, "': is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    fail("cannot read '", path, "': ", std::strerror(err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  check(!in.bad(), "error while reading '", path, "'");
  return ss.str();
}

}  // namespace purelm
