// Tests that run once per instruction-set level (kernels/isa.h): a level the CPU lacks is skipped,
// and the level in force is restored after each test.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {
// GoogleTest names a level by its name in messages.
inline void PrintTo(const Level& l, std::ostream* os) { *os << l.name; }
}  // namespace purelm::kernels

namespace purelm::testing {

// Uses a set of features for a scope.
class ForceFeatures {
 public:
  explicit ForceFeatures(kernels::Features f) : saved_(kernels::features()) {
    kernels::set_features(f);
  }
  ~ForceFeatures() { kernels::set_features(saved_); }
  ForceFeatures(const ForceFeatures&) = delete;
  ForceFeatures& operator=(const ForceFeatures&) = delete;

 private:
  kernels::Features saved_;
};

// Every named level, lowest first.
inline std::vector<kernels::Level> all_levels() {
  return {kernels::levels().begin(), kernels::levels().end()};
}

// The fixture of a suite run once per level (INSTANTIATE_EACH_LEVEL).
class EachLevel : public ::testing::TestWithParam<kernels::Level> {
 protected:
  void SetUp() override {
    const kernels::Features want = GetParam().features;
    if ((kernels::cpu_features() & want) != want) GTEST_SKIP() << "CPU lacks " << GetParam().name;
    force_.emplace(want);
  }
  bool has(kernels::Features f) const { return (GetParam().features & f) == f; }
  std::optional<ForceFeatures> force_;
};

inline std::string level_test_name(const ::testing::TestParamInfo<kernels::Level>& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
}

}  // namespace purelm::testing

#define INSTANTIATE_EACH_LEVEL(suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(Levels, suite, ::testing::ValuesIn(purelm::testing::all_levels()), \
                           purelm::testing::level_test_name)
