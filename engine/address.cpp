#include "engine/address.hpp"

#include <stdexcept>

#include "engine/errors.hpp"

namespace troupe {

std::pair<std::string, std::uint16_t> parse_address(const std::string& address,
                                                    bool allow_port_zero) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw troupe_error(errc::bad_config, "address '" + address + "' is not host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [IPv6]:PORT
  }
  try {
    std::size_t pos = 0;
    const int port = std::stoi(address.substr(colon + 1), &pos);
    if (pos == address.size() - colon - 1 && port >= (allow_port_zero ? 0 : 1) && port < 65536) {
      return {host, static_cast<std::uint16_t>(port)};
    }
  } catch (const std::exception&) {
  }
  throw troupe_error(errc::bad_config, "address '" + address + "' has no valid port");
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace troupe
