#pragma once
// A local TCP port that behaves like a host dropping connection attempts
// (down, or firewalled): it listens with a backlog of 0, one connection
// fills its accept queue and is never accepted, so Linux drops every further
// SYN and a connect() waits out the kernel's SYN timeout (about two minutes).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

#include "engine/unique_fd.hpp"

namespace troupe::testing {

class silent_port {
 public:
  /// `on_all_loopback`: listen on every address, so that 127.0.0.1 to
  /// 127.255.255.254 with this port are as many different silent peers.
  explicit silent_port(bool on_all_loopback = false) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(on_all_loopback ? INADDR_ANY : INADDR_LOOPBACK);
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    socklen_t len = sizeof(addr);
    if (!listener_ || ::bind(listener_.get(), sa, len) != 0 || ::listen(listener_.get(), 0) != 0 ||
        ::getsockname(listener_.get(), sa, &len) != 0) {
      throw std::runtime_error("cannot listen on a loopback port");
    }
    port_ = ntohs(addr.sin_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    filler_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!filler_ || ::connect(filler_.get(), sa, len) != 0) {
      throw std::runtime_error("cannot fill the accept queue");
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  unique_fd listener_, filler_;
  std::uint16_t port_ = 0;
};

}  // namespace troupe::testing
