// SHA-256 (OpenSSL's libcrypto), fed piece by piece as a download arrives.
#pragma once

#include <cstddef>
#include <string>

namespace purelm::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* data, size_t n);
  std::string hex();  // the digest of everything fed since the last reset, lower-case
 private:
  struct Ctx;
  Ctx* ctx_;
};

}  // namespace purelm::hub
