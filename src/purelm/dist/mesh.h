// The 2-D process mesh of DESIGN.md section 8: world = fsdp x tp processes on Open MPI. Ranks of a
// tensor-parallel group are adjacent (world rank = fsdp_index * tp + tp_index), so the group that
// talks twice per layer shares a machine when a hostfile fills machines in order.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>

#include "purelm/core/dtype.h"

namespace purelm::dist {

// One axis of the mesh as seen from this process: a communicator, with the time and bytes its
// collectives took (for the per-step figures that --mesh-stats prints).
class Group {
 public:
  Group() = default;
  Group(MPI_Comm comm, std::string name);
  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& name() const { return name_; }

  void all_reduce_sum(float* data, int64_t n) const;
  void all_reduce_sum(double* data, int64_t n) const;
  // Every process gives `n` floats (or bf16 values); `out` gets size() * n, in rank order.
  void all_gather(const float* in, float* out, int64_t n) const;
  void all_gather(const bf16* in, bf16* out, int64_t n) const;
  // `in` holds size() blocks of n floats; block r, summed over the group, lands in process r's out.
  void reduce_scatter_sum(const float* in, float* out, int64_t n) const;
  // Rank 0 gets size() * n floats in rank order (others pass out = nullptr).
  void gather(const float* in, float* out, int64_t n) const;
  void barrier() const;

  double seconds() const { return seconds_; }
  int64_t bytes() const { return bytes_; }  // sent by this process, as the ring algorithms do

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string name_;
  mutable double seconds_ = 0;
  mutable int64_t bytes_ = 0;
  void account(double t0, int64_t bytes) const;
};

class Mesh {
 public:
  // Whether a command should run on a mesh: under mpirun, or asked for more than one process.
  static bool wanted(int tp, int fsdp);
  // Initialises MPI; tp or fsdp 0 takes the rest of the world (`fallback` names which one does
  // when both are 0). Throws when tp * fsdp is not the number of processes.
  Mesh(int tp, int fsdp, bool fallback_is_tp);
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  int rank() const { return world_.rank(); }
  int size() const { return world_.size(); }
  bool leader() const { return rank() == 0; }
  const Group& world() const { return world_; }
  const Group& tp() const { return tp_; }
  const Group& fsdp() const { return fsdp_; }
  int local_size() const { return local_size_; }  // processes on this machine (sharing its cores)
  std::string describe() const;                   // e.g. "mesh 2 processes: tp 2 x fsdp 1"
  // Ends every process of the job (after an error on one of them, others may wait forever).
  [[noreturn]] void abort(int code) const;

 private:
  Group world_, tp_, fsdp_;
  int local_size_ = 1;
};

// This process's peak resident memory (VmHWM), in bytes: what a mesh's sharding saves.
int64_t peak_rss_bytes();
// Restarts that peak at the current resident memory (Linux: /proc/self/clear_refs); false when the
// kernel does not allow it.
bool reset_peak_rss();

}  // namespace purelm::dist
