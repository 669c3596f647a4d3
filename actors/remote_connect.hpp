#pragma once
// Reaching an actor another process published, with a bounded wait and over
// TLS when this process is configured for it (actors/tls_config.hpp).
// `middleman().remote_actor()` alone waits forever on a peer that accepts the
// connection but never answers, and always speaks plain TCP. An address
// that drops the connection attempt (down, or firewalled) is found out first
// on the caller's thread (engine/tcp_probe.hpp), so it never stalls CAF's
// middleman actor, and with it this process's other connects.
//
//   auto node = troupe::connect_remote<troupe::node_actor>(sys, "10.0.0.1", 7000,
//                                                         std::chrono::seconds(10));
//   if (!node) spdlog::error("{}", troupe::describe(node.error()));

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>

namespace troupe {

struct remote_endpoint {
  caf::strong_actor_ptr actor;
  std::set<std::string> interface;  ///< the message types it handles
};

/// The actor published at host:port, or CAF's error (cannot_connect_to_node
/// when the host does not resolve or refuses, no_actor_published_at_port,
/// disconnect_during_handshake when a TLS handshake fails, request_timeout
/// after `timeout`, also when the host does not answer at all,
/// request_receiver_down when `cancel` was set). `self` waits; an
/// event-based actor spawns a detached blocking one to call it.
caf::expected<remote_endpoint> connect_endpoint(caf::blocking_actor& self, const std::string& host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout,
                                                const std::atomic<bool>* cancel = nullptr);
caf::expected<remote_endpoint> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout);

/// Whether connect_endpoint's `err` is a peer that closed the connection
/// before CAF's handshake on every try (it refuses newcomers, or it speaks
/// TLS to a plain side or refused this side's certificate).
bool closed_before_handshake(const caf::error& err);
/// Whether it is a peer that accepted and then never spoke while a retry
/// waited for its greeting (a TLS listener, to a plain side).
bool accepted_but_silent(const caf::error& err);

/// As connect_endpoint, typed; unexpected_actor_messaging_interface when
/// the published actor does not speak `Handle`'s protocol.
template <class Handle>
caf::expected<Handle> connect_remote(caf::actor_system& sys, const std::string& host,
                                     std::uint16_t port, std::chrono::milliseconds timeout) {
  auto ep = connect_endpoint(sys, host, port, timeout);
  if (!ep) return std::move(ep.error());
  if (!sys.assignable<Handle>(ep->interface)) {
    return caf::make_error(caf::sec::unexpected_actor_messaging_interface);
  }
  return caf::actor_cast<Handle>(std::move(ep->actor));
}

}  // namespace troupe
