#include "purelm/mesh_options.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "purelm/core/error.h"
#include "purelm/core/thread_pool.h"
#include "purelm/options.h"

namespace purelm::cli {

#if PURELM_MESH

namespace {

void print_stats(const dist::Mesh& mesh, FILE* to) {
  std::fprintf(to,
               "[mesh rank %d/%d: tp %.3f s %.2f MB sent, fsdp %.3f s %.2f MB sent in collectives; "
               "peak RSS %.1f MB]\n",
               mesh.rank(), mesh.size(), mesh.tp().seconds(), double(mesh.tp().bytes()) / 1e6,
               mesh.fsdp().seconds(), double(mesh.fsdp().bytes()) / 1e6,
               double(dist::peak_rss_bytes()) / 1e6);
}

}  // namespace

void add_mesh_options(CLI::App* cmd, MeshArgs* m) {
  cmd->add_option("--tp", m->tp, "Tensor-parallel processes (under mpirun)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fsdp", m->fsdp, "Fully sharded data-parallel processes (under mpirun)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--mesh-stats", m->stats,
                "Print each process's time and bytes in collectives and its peak memory");
}

bool on_mesh(const MeshArgs& m) { return dist::Mesh::wanted(m.tp, m.fsdp); }

void run_on_mesh(const MeshArgs& m, bool default_tp,
                 const std::function<void(const dist::Mesh&)>& body) {
  dist::Mesh mesh(m.tp, m.fsdp, default_tp);
  // The processes on one machine share its cores (mpirun binds each to one only while there are
  // enough); spinning workers on a shared core would take turns with each other's work.
  set_num_threads(std::max(1, available_cores() / mesh.local_size()));
  FILE* err = stderr;
  if (!mesh.leader()) {  // keep a handle on stderr for errors, silence the rest
    err = fdopen(dup(STDERR_FILENO), "w");
    check(std::freopen("/dev/null", "w", stdout) && std::freopen("/dev/null", "w", stderr),
          "cannot silence the output of process ", mesh.rank());
  }
  try {
    body(mesh);
    // Leave together: mpirun ends the job when a process exits with an error status (e.g. 130
    // after an interrupt), which must not cut the leader short while it writes.
    mesh.world().barrier();
  } catch (const std::exception& e) {
    std::fprintf(err, "purelm: error (process %d of %d): %s\n", mesh.rank(), mesh.size(), e.what());
    std::fflush(err);
    mesh.abort(1);
  }
  if (m.stats) print_stats(mesh, err);
  if (err != stderr) std::fclose(err);
}

void with_inference_model(const MeshArgs& m, const std::string& spec, DType act,
                          const std::string& quant, const std::function<void(Model&)>& body) {
  if (!on_mesh(m)) {
    Model model = load_inference_model(spec, act, quant);
    return body(model);
  }
  run_on_mesh(m, true, [&](const dist::Mesh& mesh) {
    dist::MeshModel mm(mesh, spec, act);
    apply_quant(mm, quant);
    body(mm.model());
  });
}

void apply_quant(dist::MeshModel& mm, const std::string& quant) {
  std::optional<DType> q = parse_quant(quant);
  if (!q) return;
  mm.quantize(*q);  // nothing to do for a checkpoint quantized to this format
  std::fprintf(stderr, "[weights quantized to %s, on each tensor-parallel rank]\n", quant.c_str());
}

#else
void add_mesh_options(CLI::App*, MeshArgs*) {}

void with_inference_model(const MeshArgs&, const std::string& spec, DType act,
                          const std::string& quant, const std::function<void(Model&)>& body) {
  Model model = load_inference_model(spec, act, quant);
  body(model);
}
#endif

}  // namespace purelm::cli
