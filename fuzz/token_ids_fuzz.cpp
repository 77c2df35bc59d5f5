// Token-id lists as the CLI parses them (--prompt-ids, --decode): "1,2,3".
#include "fuzz_util.h"
#include "purelm/ids.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string csv(reinterpret_cast<const char*>(data), size);
  purelm::fuzz::expect_clear_error([&] {
    std::vector<int32_t> ids = purelm::cli::parse_ids(csv);
    // What join_ids prints parses back to the same list.
    if (purelm::cli::parse_ids(purelm::cli::join_ids(ids)) != ids) std::abort();
  });
  return 0;
}
