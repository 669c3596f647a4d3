#pragma once
// TLS with mutual certificate authentication for a Troupe process, through
// CAF 0.17's openssl module (libcaf-openssl): every connection this process
// opens or accepts runs a TLS handshake first, both sides present a
// certificate signed by the cluster CA, and a peer that cannot is dropped
// before a byte of BASP is read. No hostname check: the cluster CA is the
// trust boundary (every certificate it signed is a member of the cluster).
//
//   troupe::actor_config cfg;
//   troupe::enable_tls(cfg, files);          // before the actor system exists
//   caf::actor_system sys{cfg};
//   auto node = troupe::connect_remote<node_actor>(sys, host, port, timeout, /*tls=*/true);
//
// Listening goes through actors/guarded_listener.hpp (`listen_options::tls`).

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
#include <string>

#include "engine/tls_files.hpp"

namespace troupe {

/// Checks the files (check_tls_files, throws troupe_error naming the file),
/// loads CAF's openssl module and points it at them. Returns who this
/// process is (subject, expiry) for the log.
tls_identity enable_tls(caf::actor_system_config& cfg, const tls_files& files,
                        tls_role role = tls_role::connects);

/// The middleman actor that opens connections of the right kind: TLS when
/// the system was configured with enable_tls, plain TCP otherwise.
caf::io::middleman_actor connector(caf::actor_system& sys);

/// What to check when connecting to a node failed with `err`: under TLS,
/// whether the node listens with TLS and trusts our CA; without, whether it
/// listens with TLS (it then drops a plain client mid-handshake). Empty
/// when neither applies (a refused connection says enough).
std::string connect_failure_hint(const caf::error& err, const tls_files& tls);

}  // namespace troupe
