// --tp and --fsdp: running a command on a mesh of processes under mpirun (DESIGN.md section 8).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "purelm/core/dtype.h"
#include "purelm/models/model.h"

#if PURELM_MESH
#include "purelm/dist/mesh.h"
#include "purelm/dist/mesh_model.h"
#endif

namespace purelm::cli {

struct MeshArgs {
  int tp = 0, fsdp = 0;  // 0: the rest of the processes
  bool stats = false;
};

// Built without MPI (PURELM_MESH 0) a command has no mesh options and runs as one process.
void add_mesh_options(CLI::App* cmd, MeshArgs* m);
#if PURELM_MESH
bool on_mesh(const MeshArgs& m);  // under mpirun, or asked for more than one process
// Runs `body` on a mesh (tp and fsdp unset: all processes on the `default_tp` axis or else FSDP).
// Only the leader's stdout and stderr are shown, except errors: an error on any process is
// printed and ends the whole job, since the others may be waiting for it in a collective.
void run_on_mesh(const MeshArgs& m, bool default_tp,
                 const std::function<void(const dist::Mesh&)>& body);

// --quant on a mesh: each tensor-parallel rank quantizes its slices (dist::MeshModel::quantize).
void apply_quant(dist::MeshModel& mm, const std::string& quant);
#endif

// Runs `body` with the model an inference command asks for, either way: on a mesh when there is
// one (on_mesh; all processes on the TP axis unless told otherwise), this process's part of it,
// on every process; else the whole model on this one (load_inference_model).
void with_inference_model(const MeshArgs& m, const std::string& spec, DType act,
                          const std::string& quant, const std::function<void(Model&)>& body);

}  // namespace purelm::cli
