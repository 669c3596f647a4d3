#pragma once
// "host:port" addresses of nodes and engines. Apart from the job config so
// that the table service (which links no training code) can parse them.
//
//   auto [host, port] = parse_address("127.0.0.1:7100");

#include <cstdint>
#include <string>
#include <utility>

namespace troupe {

/// Splits "host:port" (or "[IPv6]:port"); throws troupe_error(bad_config)
/// naming the address. Port 0 (any free port) only where one listens.
std::pair<std::string, std::uint16_t> parse_address(const std::string& address,
                                                    bool allow_port_zero = false);

/// Whether `host` (as parse_address returns it) names this machine only:
/// "localhost", 127.0.0.0/8 or ::1. A listener elsewhere is reachable from
/// the network.
bool is_loopback_host(const std::string& host);

}  // namespace troupe
