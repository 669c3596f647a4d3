#pragma once
// Resolving a host name for a TCP connection within a deadline. getaddrinfo()
// has no timeout of its own: towards a name server that does not answer it
// blocks for the resolver's timeouts (resolv.conf: 5 s per try, per server,
// per address family, easily half a minute), far past a caller's deadline.
// The lookup therefore runs on a helper thread of its own, and the caller
// waits for it only until its deadline or until `cancel` is set; a helper
// given up on finishes on its own and frees what it found. A numeric address
// needs no lookup and no thread.
//
//   auto found = lookup_tcp("ps-3.example", 4242, std::chrono::seconds(2));
//   if (found.status != lookup_status::found) return error(found.why);
//   for (const addrinfo* a = found.addresses.get(); a; a = a->ai_next) ...

#include <netdb.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace troupe {

enum class lookup_status {
  found,      ///< `addresses` holds at least one address
  failed,     ///< the name does not resolve, or the resolver failed
  timed_out,  ///< the resolver had not answered by the deadline
  cancelled,  ///< `cancel` was set while waiting
};

struct addrinfo_free {
  void operator()(addrinfo* a) const noexcept { ::freeaddrinfo(a); }
};
using addrinfo_list = std::unique_ptr<addrinfo, addrinfo_free>;

struct lookup_result {
  lookup_status status = lookup_status::failed;
  addrinfo_list addresses;  ///< when found: stream-socket addresses, resolver's order
  std::string why;          ///< when not found: what went wrong, naming host:port
};

/// How a name is looked up: getaddrinfo()'s contract. Tests pass one that
/// stalls; everything else uses the system resolver. It runs on the helper,
/// which may outlive the call: it must own whatever it uses.
using name_resolver = std::function<int(const std::string& host, const std::string& service,
                                        const addrinfo& hints, addrinfo** out)>;

/// The system resolver (getaddrinfo).
name_resolver system_resolver();

/// host's stream-socket addresses for `port`, found within `timeout`;
/// `cancel` (optional) is checked at least every 100 ms.
lookup_result lookup_tcp(const std::string& host, std::uint16_t port,
                         std::chrono::milliseconds timeout,
                         const std::atomic<bool>* cancel = nullptr,
                         const name_resolver& resolve = system_resolver());

}  // namespace troupe
