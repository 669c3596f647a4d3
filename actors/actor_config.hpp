#pragma once
// The CAF configuration every Troupe process uses: message types registered
// under the same names on every node, the "troupe" error category, the io
// middleman, and the sharing scheduler (lower latency than work stealing on
// few cores; see shared/STACK-NOTES.md).

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

#include "engine/errors.hpp"

namespace troupe {

/// How long a silent peer may stay connected by default: a hung
/// (SIGSTOPped) peer is declared lost within about a second instead of never
/// (shared/STACK-NOTES.md). (500 ms, the fastest measured there, dropped
/// healthy peers of a busy 2-core machine during the test suite.)
constexpr std::chrono::milliseconds default_peer_timeout{1000};

/// A peer timeout given in seconds (a checked --peer-timeout or
/// peer_timeout_s), in the milliseconds actor_config takes.
inline std::chrono::milliseconds peer_timeout_of(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

class actor_config : public caf::actor_system_config {
 public:
  /// `threads` = 0 keeps CAF's default (one per core). `peer_timeout`: a
  /// peer silent this long is lost, heartbeats every tenth of it
  /// (configure_cluster_timeouts in actors/cluster_types.hpp).
  explicit actor_config(std::size_t threads = 0,
                        std::chrono::milliseconds peer_timeout = default_peer_timeout);
};

/// The error category atom of Troupe errors.
caf::atom_value troupe_error_category();

/// Whether `err` is a Troupe error with code `code`.
bool is_troupe_error(const caf::error& err, errc code);

/// A caf::error carrying an engine status (code and message).
caf::error to_caf_error(const status& st);
caf::error make_troupe_error(errc code, std::string message);

/// "wrong_size: push of ..." for Troupe errors, CAF's rendering otherwise.
std::string describe(const caf::error& err);

/// What an exception caught by an actor's exception handler says
/// (`what()`, or "unknown exception" for anything not a std::exception).
std::string describe(const std::exception_ptr& eptr);

}  // namespace troupe
