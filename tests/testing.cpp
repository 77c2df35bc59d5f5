#include "testing.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "purelm/io/safetensors.h"

namespace purelm::testing {

TempDir::TempDir() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("purelm-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

namespace {
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

namespace {
RunResult run_command(std::string cmd, const std::vector<std::string>& args) {
  TempDir tmp;
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(tmp.path("out")) + " 2>" + quote(tmp.path("err")) + " </dev/null";
  int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(tmp.path("out")), slurp(tmp.path("err"))};
}

// Only the tests with `cli` on their line in tests/CMakeLists.txt have the binary built first.
void expect_cli_built() {
  EXPECT_TRUE(std::filesystem::exists(PURELM_CLI))
      << PURELM_CLI << " is missing: build the purelm_cli target, and add `cli` to this test's "
      << "line in tests/CMakeLists.txt";
}
}  // namespace

std::vector<std::string> golden_forward_args(const std::string& dir, const std::string& out) {
  return {"forward",
          "--model",
          dir,
          "--input",
          dir + "/golden.safetensors",
          "--output",
          out,
          "--grad",
          "--adamw-steps",
          "3",
          "--lr",
          "0.01",
          "--beta1",
          "0.9",
          "--beta2",
          "0.95",
          "--eps",
          "1e-8",
          "--weight-decay",
          "0.1"};
}

RunResult run_cli(const std::vector<std::string>& args) {
  expect_cli_built();
  const std::string launcher = PURELM_CLI_LAUNCHER;
  return run_command((launcher.empty() ? "" : launcher + " ") + quote(PURELM_CLI), args);
}

RunResult run_mpi(int np, const std::vector<std::string>& args, const std::string& wrap) {
  expect_cli_built();
  std::string cmd = "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(np) + " ";
  if (!wrap.empty()) cmd += "sh -c " + quote(wrap) + " sh ";
  return run_command(cmd + quote(PURELM_CLI), args);
}

void expect_forward_matches_golden(const std::string& out_path, const std::string& dir) {
  TensorStore got = TensorStore::open_file(out_path);
  TensorStore want = TensorStore::open_file(dir + "/golden.safetensors");
  TensorStore weights = TensorStore::open_dir(dir);
  EXPECT_LE(rel_error(got.get("logits"), want.get("logits")), 1e-4);
  EXPECT_LE(rel_error(got.get("loss"), want.get("loss")), 1e-4);
  EXPECT_LE(rel_error(got.get("adamw_losses"), want.get("adamw_losses")), 1e-4);
  EXPECT_LE(rel_error(got.get("adamw_final_loss"), want.get("adamw_final_loss")), 1e-4);
  int grads = 0;
  for (const std::string& name : weights.names()) {
    ++grads;
    EXPECT_LE(rel_error(got.get("grad." + name), want.get("grad." + name)), 1e-4) << name;
    // AdamW: relative L2 error of the update, and an absolute bound (fixtures README).
    std::vector<float> p0 = weights.get(name).to_vector(),
                       a = got.get("after_adamw." + name).to_vector(),
                       b = want.get("after_adamw." + name).to_vector();
    double err = 0, upd = 0, worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      err += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
      upd += (double(b[i]) - p0[i]) * (double(b[i]) - p0[i]);
      worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    }
    EXPECT_LE(std::sqrt(err / upd), 1e-2) << name;
    EXPECT_LE(worst, 5e-3) << name;
  }
  EXPECT_GT(grads, 10);
}

double rel_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(double(x[i]) - y[i]));
    scale = std::max(scale, std::fabs(double(y[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (float v : a.to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}

void expect_all_positive(const nlohmann::json& j, const std::string& path) {
  if (j.is_object() || j.is_array()) {
    EXPECT_FALSE(j.empty()) << path;
    for (auto it = j.begin(); it != j.end(); ++it)
      expect_all_positive(*it, path + "/" + (j.is_object() ? it.key() : "[]"));
  } else if (j.is_number()) {
    EXPECT_TRUE(std::isfinite(j.get<double>()) && j.get<double>() > 0) << path << " = " << j.dump();
  } else if (!j.is_boolean()) {
    ASSERT_TRUE(j.is_string()) << path << " = " << j.dump();
    EXPECT_FALSE(j.get<std::string>().empty()) << path;
  }
}

}  // namespace purelm::testing
