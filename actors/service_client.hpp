#pragma once
// Builds a troupe::client (include/troupe/client.hpp) from a table
// directory: in-process (engine::client) or after a remote handshake
// (client::connect). The client keeps `rt` alive, and `auth` (the actor that
// authenticated, whose life is the admission of this process) too.
//
//   auto c = troupe::open_client(rt, directory, opts, nullptr);

#include <caf/fwd.hpp>

#include <memory>
#include <string>

#include "actors/service_runtime.hpp"
#include "actors/table_directory.hpp"
#include "troupe/client.hpp"

namespace troupe {

/// Why `opts` cannot make a client (a deadline that is not positive, or so
/// far that the time it ends at overflows; a window of 0); empty if it can.
std::string check_client_options(const client_options& opts);

result<client> open_client(std::shared_ptr<actor_runtime> rt, const directory_actor& directory,
                           const client_options& opts, std::unique_ptr<caf::scoped_actor> auth);

}  // namespace troupe
