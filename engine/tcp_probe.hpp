#pragma once
// Whether anything at host:port answers a TCP connection attempt within a
// deadline. CAF 0.17's middleman actor opens its connections with a blocking
// connect(): towards a host that drops SYNs (down, or behind a firewall) it
// then stalls for the kernel's SYN timeout (about two minutes), and every
// other connect, publish and lookup of the process waits behind it. Asking
// first, on the caller's own thread and with the caller's deadline, keeps
// such a host from ever reaching the middleman.
//
//   if (!answers_within(host, port, std::chrono::seconds(10))) return timeout_error();
//   // ... then connect through CAF, which now meets an answering host

#include <chrono>
#include <cstdint>
#include <string>

namespace troupe {

/// False only when no address of `host` answered within `timeout`: neither
/// accepted (the connection is closed again at once) nor refused. A name
/// that does not resolve counts as answered, since the caller's own connect
/// then fails at once and names the cause.
bool answers_within(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace troupe
