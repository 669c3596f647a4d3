#pragma once
// What a peer may put inside a BASP payload before it has authenticated.
//
// The frame screen bounds a payload before authentication to 64 KiB, but
// CAF 0.17 reads a byte vector (std::vector<char>, Troupe's Cap'n Proto
// blobs, std::vector<bool>) by resizing it to the length written in the
// payload *before* it checks that the bytes exist: a 21-byte direct message
// claiming 4 GiB made a daemon allocate and zero-fill 4 GiB, for ~25 s, and
// dropped an authenticated peer meanwhile. So every payload that arrives
// before authentication is first read here, the way BASP will read it, by a
// deserializer that refuses any length longer than the bytes left. What it
// cannot read, BASP never sees: the connection is closed.
//
//   direct message    stages, message
//   routed message    source node, destination node, stages, message
//   monitor message   source node, destination node
//   down message      source node, destination node, error
//   client handshake  node (CAF's repeat of the first, which the screen reads)
//
// Refused as well: a message holding a group handle (CAF's group module
// spawns a broker actor for it and keeps it for good), a handle of an actor
// on a third node (neither this one nor the peer's, named in its handshake:
// CAF would learn a route to it on the peer's word), a payload cut short or
// with bytes after its end. The dry run makes no proxies. And what would
// reach CAF itself: a message to one of its services (only the spawn
// server's `info` query, which CAF sends on every connection, passes; its
// config server keeps whatever is put into it), any routed message, a
// monitor or down message from a node other than the peer or for a node
// other than this one, and a repeated handshake naming another node.
//
//   frame_screen screen{limits, [&](const basp_header& h, const auto& p) {
//     return check_preauth_payload(sys, h, p, peer_from_handshake);
//   }};

#include <caf/fwd.hpp>

#include <cstdint>
#include <vector>

#include "engine/errors.hpp"
#include "engine/wire/frame_screen.hpp"

namespace troupe {

/// ok, or malformed_message saying what could not be read. `peer`: the node
/// id the peer sent in its handshake (null: none yet).
status check_preauth_payload(caf::actor_system& sys, const basp_header& header,
                             const std::vector<std::uint8_t>& payload,
                             const caf::node_id* peer = nullptr);

}  // namespace troupe
