// Helpers shared by the tests: paths, running the CLI, comparing tensors.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "purelm/core/tensor.h"

namespace purelm::testing {

// A file of ../shared (fixtures, tokenizers, models), or of this repository.
inline std::string shared(const std::string& rel) {
  return std::string(PURELM_SHARED_DIR) + "/" + rel;
}
inline std::string repo(const std::string& rel) { return std::string(PURELM_REPO_DIR) + "/" + rel; }

// A fresh temporary folder, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

struct RunResult {
  int status;
  std::string out, err;
};
// Runs the purelm binary with the given arguments (shell-quoted here).
RunResult run_cli(const std::vector<std::string>& args);
// The same as `np` processes under mpirun. With `wrap`, each process runs that shell script with
// the purelm command line as its arguments ("$@"), e.g. to signal one of them later.
RunResult run_mpi(int np, const std::vector<std::string>& args, const std::string& wrap = "");

// A server in the background (argv[0] found on PATH, e.g. the CLI or mpirun), its stdin empty and
// its stderr in `log`; killed when the object dies.
class ServeProcess {
 public:
  ServeProcess(std::vector<std::string> argv, const std::string& log);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  // The port from the line "... on http://127.0.0.1:PORT ...", once the server listens; 0 if it
  // died first.
  int port() const;
  // SIGTERM to `pid` (0: the process started here, else e.g. one of its children), then the
  // started process's exit status.
  int terminate(int pid = 0);
  std::string log() const;

 private:
  std::string log_;
  mutable int pid_ = -1;  // -1 once reaped
};

// `purelm forward --grad --adamw-steps 3` on a fixture's golden inputs with the AdamW settings
// its goldens were made with (fixtures README), writing `out`.
std::vector<std::string> golden_forward_args(const std::string& fixture_dir,
                                             const std::string& out);
// Checks the results of that command against a fixture's goldens with the fixtures README's
// float32 tolerances.
void expect_forward_matches_golden(const std::string& out_path, const std::string& fixture_dir);

// max|a - b| / max|b|
double rel_error(const Tensor& a, const Tensor& b);
double max_abs(const Tensor& a);

// Every number positive (and so finite: NaN fails), every string non-empty, at any depth (flags
// may be either); `path` names where in the report a failure is.
void expect_all_positive(const nlohmann::json& j, const std::string& path);

}  // namespace purelm::testing
