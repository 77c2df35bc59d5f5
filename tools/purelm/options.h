// Flags shared by several commands.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"

namespace purelm::cli {

// --dtype f32|bf16: the dtype activations are computed in.
void add_dtype_option(CLI::App* cmd, std::string* dtype);
DType parse_compute_dtype(const std::string& s);
// --kv-cache f32|bf16: the storage of the KV cache (parsed by parse_compute_dtype too).
void add_kv_cache_option(CLI::App* cmd, std::string* dtype);

std::vector<int32_t> parse_ids(const std::string& csv);  // "1,2,3"
std::string join_ids(const std::vector<int32_t>& ids);

}  // namespace purelm::cli
