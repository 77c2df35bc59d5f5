#include "testing.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "purelm/io/safetensors.h"

extern char** environ;

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

ServeProcess::ServeProcess(std::vector<std::string> args, const std::string& log) : log_(log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0) pid_ = pid;
  posix_spawn_file_actions_destroy(&fa);
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int ServeProcess::port() const {
  for (int i = 0; i < 1200; ++i) {  // up to two minutes on a loaded host
    const std::string text = log();
    const size_t at = text.find("http://127.0.0.1:");
    if (at != std::string::npos) return std::atoi(text.c_str() + at + 17);
    if (pid_ <= 0) return 0;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // died, and reaped
      pid_ = -1;
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

int ServeProcess::terminate(int pid) {
  if (pid_ <= 0) return -1;
  kill(pid > 0 ? pid : pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ServeProcess::log() const {
  std::ifstream f(log_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
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
