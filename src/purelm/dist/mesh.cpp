#include "purelm/dist/mesh.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include "purelm/core/error.h"

namespace purelm::dist {

namespace {

void ok(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("MPI ", what, " failed: ", std::string(msg, size_t(len)));
}

// MPI counts are int: large buffers go in pieces.
constexpr int64_t kMaxCount = int64_t(1) << 30;

}  // namespace

Group::Group(MPI_Comm comm, std::string name) : comm_(comm), name_(std::move(name)) {
  ok(MPI_Comm_rank(comm, &rank_), "Comm_rank");
  ok(MPI_Comm_size(comm, &size_), "Comm_size");
}

void Group::account(double t0, int64_t bytes) const {
  seconds_ += MPI_Wtime() - t0;
  bytes_ += bytes;
}

void Group::all_reduce_sum(float* data, int64_t n) const {
  if (size_ == 1) return;
  double t0 = MPI_Wtime();
  for (int64_t i = 0; i < n; i += kMaxCount)
    ok(MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, n - i)), MPI_FLOAT, MPI_SUM,
                     comm_),
       "Allreduce");
  account(t0, 2 * (size_ - 1) * n * int64_t(sizeof(float)) / size_);
}

void Group::all_reduce_sum(double* data, int64_t n) const {
  if (size_ == 1) return;
  double t0 = MPI_Wtime();
  ok(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_DOUBLE, MPI_SUM, comm_), "Allreduce");
  account(t0, 2 * (size_ - 1) * n * int64_t(sizeof(double)) / size_);
}

void Group::all_gather(const float* in, float* out, int64_t n) const {
  check(n <= kMaxCount, "all_gather: ", n, " floats per process is too many for one call");
  double t0 = MPI_Wtime();
  ok(MPI_Allgather(in, int(n), MPI_FLOAT, out, int(n), MPI_FLOAT, comm_), "Allgather");
  account(t0, (size_ - 1) * n * int64_t(sizeof(float)));
}

void Group::all_gather(const bf16* in, bf16* out, int64_t n) const {
  check(n <= kMaxCount, "all_gather: ", n, " values per process is too many for one call");
  double t0 = MPI_Wtime();
  ok(MPI_Allgather(in, int(n), MPI_UINT16_T, out, int(n), MPI_UINT16_T, comm_), "Allgather");
  account(t0, (size_ - 1) * n * int64_t(sizeof(bf16)));
}

void Group::reduce_scatter_sum(const float* in, float* out, int64_t n) const {
  check(n <= kMaxCount, "reduce_scatter: ", n, " floats per process is too many for one call");
  double t0 = MPI_Wtime();
  ok(MPI_Reduce_scatter_block(in, out, int(n), MPI_FLOAT, MPI_SUM, comm_), "Reduce_scatter_block");
  account(t0, (size_ - 1) * n * int64_t(sizeof(float)));
}

void Group::gather(const float* in, float* out, int64_t n) const {
  check(n <= kMaxCount, "gather: ", n, " floats per process is too many for one call");
  double t0 = MPI_Wtime();
  ok(MPI_Gather(in, int(n), MPI_FLOAT, out, int(n), MPI_FLOAT, 0, comm_), "Gather");
  account(t0, rank_ == 0 ? 0 : n * int64_t(sizeof(float)));
}

void Group::barrier() const {
  double t0 = MPI_Wtime();
  ok(MPI_Barrier(comm_), "Barrier");
  account(t0, 0);
}

bool Mesh::wanted(int tp, int fsdp) {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || tp > 1 || fsdp > 1;
}

Mesh::Mesh(int tp, int fsdp, bool fallback_is_tp) {
  check(tp >= 0 && fsdp >= 0, "--tp and --fsdp must not be negative");
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // One thread calls MPI at a time, not always the main one (`purelm serve` makes its
    // collectives on the engine's thread); the thread pool never does.
    int provided = 0;
    ok(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "Init_thread");
    check(provided >= MPI_THREAD_SERIALIZED,
          "this MPI library cannot be called from more than one thread (MPI_THREAD_SERIALIZED)");
  }
  world_ = Group(MPI_COMM_WORLD, "world");
  const int P = world_.size();
  auto refuse = [](const std::string& msg) {
    MPI_Finalize();
    fail(msg);
  };
  if (tp == 0 && fsdp == 0) (fallback_is_tp ? tp : fsdp) = P;
  if (tp == 0 || fsdp == 0) {
    int given = tp ? tp : fsdp;
    if (P % given != 0)
      refuse(std::string(tp ? "--tp " : "--fsdp ") + std::to_string(given) +
             " does not divide the job's " + std::to_string(P) + " processes");
    (tp ? fsdp : tp) = P / given;
  }
  if (tp * fsdp != P)
    refuse("--tp " + std::to_string(tp) + " x --fsdp " + std::to_string(fsdp) + " = " +
           std::to_string(tp * fsdp) + " processes, but this job has " + std::to_string(P) +
           (P == 1 ? " (run it as mpirun -np " + std::to_string(tp * fsdp) + " purelm ...)" : ""));
  MPI_Comm tp_comm, fsdp_comm;
  ok(MPI_Comm_split(MPI_COMM_WORLD, rank() / tp, rank() % tp, &tp_comm), "Comm_split");
  ok(MPI_Comm_split(MPI_COMM_WORLD, rank() % tp, rank() / tp, &fsdp_comm), "Comm_split");
  tp_ = Group(tp_comm, "tp");
  fsdp_ = Group(fsdp_comm, "fsdp");
  MPI_Comm local;
  ok(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &local),
     "Comm_split_type");
  ok(MPI_Comm_size(local, &local_size_), "Comm_size");
  ok(MPI_Comm_free(&local), "Comm_free");
}

Mesh::~Mesh() { MPI_Finalize(); }

std::string Mesh::describe() const {
  return "mesh of " + std::to_string(size()) + " processes: tp " + std::to_string(tp_.size()) +
         " x fsdp " + std::to_string(fsdp_.size());
}

void Mesh::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();
}

int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.close();
  return !f.fail();
}

}  // namespace purelm::dist
