#pragma once
// Which address of a host answers a TCP connection attempt within a
// deadline. CAF 0.17's middleman actor opens its connections with a blocking
// connect(): towards an address that drops SYNs (a host down, or behind a
// firewall) it stalls for the kernel's SYN timeout (about two minutes), and
// every other connect, publish and lookup of the process waits behind it.
// Probing first, on the caller's own thread and with the caller's deadline,
// and then handing CAF the numeric address that accepted, keeps such an
// address from ever reaching the middleman.
//
//   auto p = probe_tcp(host, port, std::chrono::seconds(10));
//   if (p.answer == tcp_answer::silent) return timeout_error(p.why);
//   if (p.answer != tcp_answer::accepted) return unreachable_error(p.why);
//   // ... connect through CAF to p.address, which just accepted
//
// The deadline covers the name's lookup too (engine/name_lookup.hpp); a host
// given as a numeric address needs none.
// An address that starts dropping SYNs between the probe and CAF's connect
// (microseconds later) would still stall the middleman: a narrow race this
// cannot close without a non-blocking connect inside CAF.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "engine/name_lookup.hpp"

namespace troupe {

/// How a probe that waited for the peer's first byte in vain says why (a
/// TLS listener, which waits for the client to speak first, answers so).
inline constexpr const char* accepted_but_silent_why =
    "it accepted the connection but sent nothing";

enum class tcp_answer {
  accepted,    ///< an address accepted (the connection was closed again at once)
  refused,     ///< every address refused or cannot be reached from here
  silent,      ///< no address accepted, and one neither accepted nor refused in time,
               ///< or the resolver did not answer in time
  unresolved,  ///< the name does not resolve (or the resolver failed)
  cancelled,   ///< `cancel` was set while waiting
};

struct tcp_probe_result {
  tcp_answer answer = tcp_answer::unresolved;
  std::string address;  ///< numeric, of the address that accepted
  std::string why;      ///< what went wrong, naming host:port, when none accepted
};

/// Tries host's addresses in the resolver's order until one accepts, the
/// next starting 250 ms after the last unless that one failed sooner, all
/// within `timeout` (the lookup of the name included): a silent first
/// address does not keep a later one that answers from being tried. `cancel`
/// (optional) is checked at least every 100 ms, so that an owner that ends
/// need not wait out the deadline. `until_peer_speaks`: an address counts as
/// accepted only once the peer sends its first byte (a plain CAF node sends
/// its handshake at once); one that accepts and says nothing until the
/// deadline (a stopped process, whose kernel accepts for it) is `silent`.
tcp_probe_result probe_tcp(const std::string& host, std::uint16_t port,
                           std::chrono::milliseconds timeout,
                           const std::atomic<bool>* cancel = nullptr,
                           const name_resolver& resolve = system_resolver(),
                           bool until_peer_speaks = false);

}  // namespace troupe
