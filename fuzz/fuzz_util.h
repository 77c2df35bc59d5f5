// Helpers shared by the fuzz targets (header only: each target is one executable).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "purelm/core/error.h"

namespace purelm::fuzz {

// A private folder for files the API reads by path, removed at exit: in memory (/dev/shm) where
// there is one, which makes the file-reading targets several times faster than a disk's /tmp.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    std::string tmpl = (base / "purelm-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] { std::filesystem::remove_all(scratch_dir()); });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = (scratch_dir() / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

// Runs f; purelm::Error is the clear error every bad input must end in. Anything else escapes,
// and libFuzzer reports it as a crash.
template <class F>
void expect_clear_error(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace purelm::fuzz
