// Token-id lists on the command line ("1,2,3"), apart from the options so that the fuzz target
// can use them without the rest of the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace purelm::cli {

std::vector<int32_t> parse_ids(const std::string& csv);  // "1,2,3"
std::string join_ids(const std::vector<int32_t>& ids);

}  // namespace purelm::cli
