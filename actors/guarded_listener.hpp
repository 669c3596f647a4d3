#pragma once
// Publishing an actor the way every Troupe listener does: on a socket whose
// accepted connections pass the frame guard (actors/frame_guard.hpp) before
// CAF's BASP broker reads a byte of them, optionally inside TLS with mutual
// certificate authentication (the actor system must then have been
// configured with enable_tls, actors/tls_config.hpp).
//
//   accepted socket --> [TLS session] --> connection_screen --> BASP broker
//                        handshake: no     malformed/oversized
//                        valid cert ->     frame, no auth in
//                        closed            time -> closed
//
// How: CAF 0.17 lets a middleman actor choose the doorman of a published
// port (libcaf_openssl does the same for TLS). Ours creates, per accepted
// socket, a scribe whose stream policy reads through the screen. The BASP
// broker, the handshake and the actors are CAF's own, unchanged.
//
//   troupe::listen_options opts;
//   opts.guard.name = "node n1";
//   opts.guard.peers = peer_guard;            // who counts as authenticated
//   auto l = troupe::guarded_listener::publish(sys, node, "0.0.0.0", 7000, opts);
//   l->port();                                 // the port taken (7000, or any for 0)
//   // ~guarded_listener(): unpublished, sweeper stopped

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "actors/frame_guard.hpp"

namespace caf::io {
class basp_broker;
}  // namespace caf::io

namespace troupe {

/// CAF 0.17.6's BASP broker keeps, for every node that ever connected, a
/// handle to the helper it spawned to find that node's spawn server
/// (basp_broker::spawn_servers: learned_new_node adds, nothing removes):
/// ~1.2 KB a peer process for good, peers that never authenticated too.
/// Ends the helpers of nodes no route leads to any more, and drops their
/// entries once they have ended. Every listener calls it on each accepted
/// connection, on the broker's I/O thread; call it only there.
void forget_departed_nodes(caf::io::basp_broker& basp);

/// How many nodes `sys`'s BASP broker keeps such a handle for (asked on its
/// I/O thread; never call it from there).
std::size_t remembered_nodes(caf::actor_system& sys);

struct listen_options {
  frame_guard_options guard;  ///< limits, deadline, peers, metrics, name
  bool tls = false;           ///< TLS (needs enable_tls on the system's config)
};

class guarded_listener {
 public:
  /// Publishes `whom` (with its message interface `sigs`) on host:port
  /// (port 0: any free port). Throws troupe_error(io_error) when it cannot
  /// listen there.
  static std::unique_ptr<guarded_listener> publish(caf::actor_system& sys,
                                                   caf::strong_actor_ptr whom,
                                                   std::set<std::string> sigs,
                                                   const std::string& host, std::uint16_t port,
                                                   listen_options opts);

  template <class Handle>
  static std::unique_ptr<guarded_listener> publish(caf::actor_system& sys, const Handle& whom,
                                                   const std::string& host, std::uint16_t port,
                                                   listen_options opts) {
    return publish(sys, caf::actor_cast<caf::strong_actor_ptr>(whom), sys.message_types(whom), host,
                   port, std::move(opts));
  }

  ~guarded_listener();
  guarded_listener(const guarded_listener&) = delete;
  guarded_listener& operator=(const guarded_listener&) = delete;

  std::uint16_t port() const;

  struct impl;

 private:
  explicit guarded_listener(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace troupe
