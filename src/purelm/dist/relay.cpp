#include "purelm/dist/relay.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "purelm/core/error.h"

namespace purelm::dist {

namespace {

void ok(int rc, const char* what) { check(rc == MPI_SUCCESS, "MPI ", what, " failed"); }

// Waits for `req` as MPI_Wait would, but sleeps between tests (up to a millisecond once the wait
// runs long): Open MPI's blocking calls poll, and an idle follower would keep a core busy.
void wait_lazily(MPI_Request& req) {
  auto pause = std::chrono::microseconds(1);
  for (;;) {
    int done = 0;
    ok(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "Test");
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

}  // namespace

// The length goes first (a non-blocking broadcast, which the others await lazily), then the words.
std::vector<int64_t> relay(const Mesh& mesh, const std::vector<int64_t>& words) {
  int64_t n = mesh.leader() ? int64_t(words.size()) : 0;
  MPI_Request req;
  ok(MPI_Ibcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &req), "Ibcast");
  if (mesh.leader())
    ok(MPI_Wait(&req, MPI_STATUS_IGNORE), "Wait");
  else
    wait_lazily(req);
  std::vector<int64_t> got = mesh.leader() ? words : std::vector<int64_t>(size_t(n));
  ok(MPI_Bcast(got.data(), int(n), MPI_INT64_T, 0, MPI_COMM_WORLD), "Bcast");
  return got;
}

}  // namespace purelm::dist
