// A leader's orders to the other processes of a mesh, e.g. `purelm serve`, where rank 0 alone hears
// the clients and tells the others each step to take part in. The others wait for the next order
// without spinning a core: a server's followers are idle as long as no one asks anything.
#pragma once

#include <cstdint>
#include <vector>

#include "purelm/dist/mesh.h"

namespace purelm::dist {

// On the leader: sends `words` to every other process. On the others: returns what the leader
// sent. Every process calls it the same number of times, in the same order as its collectives.
std::vector<int64_t> relay(const Mesh& mesh, const std::vector<int64_t>& words = {});

}  // namespace purelm::dist
