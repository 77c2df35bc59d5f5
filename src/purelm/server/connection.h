// A generation request's connection, watched while the handler waits for the engine: a client
// that closes it frees its queue place or slot at once, before anything is written to it.
// cpp-httplib 0.11 gives a handler no handle on its connection, so the socket is found by the
// addresses of the request (a TCP connection's four are unique among the process's sockets).
#pragma once

#include <string>

namespace purelm::server {

// The descriptor of this process's TCP socket from local_addr:local_port to
// remote_addr:remote_port (numeric hosts, as httplib's Request gives them), or -1.
int find_connection(const std::string& local_addr, int local_port, const std::string& remote_addr,
                    int remote_port);

// Waits until `wake` (an eventfd) is signalled, or the peer of socket `sock` (-1: none) has closed
// or reset the connection; false in the second case. Resets `wake`.
bool wait_for_event(int wake, int sock);

}  // namespace purelm::server
