#include "purelm/options.h"

#include "purelm/core/error.h"

namespace purelm::cli {

void add_dtype_option(CLI::App* cmd, std::string* dtype) {
  cmd->add_option("--dtype", *dtype, "Compute dtype of activations: f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

DType parse_compute_dtype(const std::string& s) { return s == "bf16" ? DType::BF16 : DType::F32; }

void add_kv_cache_option(CLI::App* cmd, std::string* dtype) {
  cmd->add_option("--kv-cache", *dtype,
                  "Storage of the KV cache: f32, or bf16 (half the memory and decode reads)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

std::vector<int32_t> parse_ids(const std::string& csv) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < csv.size()) {
    size_t j = csv.find(',', i);
    if (j == std::string::npos) j = csv.size();
    std::string tok = csv.substr(i, j - i);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used > 0 && used == tok.size() && v >= 0 && v <= INT32_MAX, "'", tok,
          "' is not a token id (expected comma-separated non-negative integers)");
    ids.push_back(int32_t(v));
    i = j + 1;
  }
  return ids;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace purelm::cli
