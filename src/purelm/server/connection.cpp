#include "purelm/server/connection.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>

namespace purelm::server {

namespace {

// The peer's shutdown of its side: POLLRDHUP on Linux; elsewhere (macOS) only a full hang-up shows.
#ifdef POLLRDHUP
constexpr short kPeerClosed = POLLRDHUP;
#else
constexpr short kPeerClosed = POLLHUP;
#endif

struct Endpoint {
  std::string host;
  int port = -1;
};

// As httplib names them: getnameinfo's numeric host and the port.
std::optional<Endpoint> endpoint(const sockaddr_storage& a, socklen_t n) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), n, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return std::nullopt;
  return Endpoint{host, std::atoi(port)};
}

bool is(const std::optional<Endpoint>& e, const std::string& host, int port) {
  return e && e->port == port && e->host == host;
}

}  // namespace

int find_connection(const std::string& local_addr, int local_port, const std::string& remote_addr,
                    int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* d = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(d->d_name, &end, 10);
    struct stat s;
    if (*end != '\0' || end == d->d_name || fstat(int(fd), &s) != 0 || !S_ISSOCK(s.st_mode))
      continue;
    sockaddr_storage peer{}, self{};
    socklen_t np = sizeof peer, ns = sizeof self;
    if (getpeername(int(fd), reinterpret_cast<sockaddr*>(&peer), &np) != 0 ||
        getsockname(int(fd), reinterpret_cast<sockaddr*>(&self), &ns) != 0)
      continue;
    if (is(endpoint(peer, np), remote_addr, remote_port) &&
        is(endpoint(self, ns), local_addr, local_port)) {
      found = int(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool wait_for_event(int wake, int sock) {
  // POLLRDHUP: the peer shut down its side. POLLIN is not asked for on the socket: a pipelined
  // next request is no reason to wake.
  pollfd fds[2] = {{wake, POLLIN, 0}, {sock, kPeerClosed, 0}};
  uint64_t n;
  for (;;) {
    if (poll(fds, sock >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      if (read(wake, &n, sizeof n) < 0) n = 0;  // cannot watch: wait for the engine alone
      return true;
    }
    if ((fds[0].revents & POLLIN) && read(wake, &n, sizeof n) < 0) n = 0;
    if (sock >= 0 && (fds[1].revents & (kPeerClosed | POLLHUP | POLLERR))) return false;
    if (fds[0].revents & POLLIN) return true;
  }
}

}  // namespace purelm::server
