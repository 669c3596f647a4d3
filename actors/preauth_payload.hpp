#pragma once
// What a peer may put inside a BASP payload: before it has authenticated,
// and (check_authenticated_payload) after.
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
// Once a peer has authenticated it may send all of that (CAF's own traffic
// between nodes does), but still nothing CAF cannot read: a reader that
// throws (CAF 0.17 throws for a config_value or variant of an unknown type)
// makes the BASP broker quit, and with it every connection of the daemon;
// a length beyond the bytes left allocates up to 4 GiB; deep nesting
// overflows the stack. A cluster member with a bug, or a stolen secret,
// must not take a node down with one message, nor stop one with an exit
// message of exit_reason::kill (which CAF obeys past any exit handler): such
// a payload closes its
// connection instead (actors/guarded_listener.cpp checks each payload of an
// accepted connection in place before BASP reads it; long byte runs are
// skipped, not copied; connections a node opens itself are not screened).
//
//   frame_screen screen{limits, [&](const basp_header& h, const auto& p) {
//     return check_preauth_payload(sys, h, p, peer_from_handshake);
//   }};
//   // after authentication, each whole payload as CAF is about to read it:
//   if (!check_authenticated_payload(sys, h, data, size)) close_connection();

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

/// ok, or malformed_message saying why CAF could not read a payload from an
/// authenticated peer without throwing, over-allocating or recursing deep.
status check_authenticated_payload(caf::actor_system& sys, const basp_header& header,
                                   const std::uint8_t* data, std::size_t size);

}  // namespace troupe
