#include "actors/remote_connect.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/tls_config.hpp"

namespace troupe {

caf::expected<remote_endpoint> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout) {
  caf::expected<remote_endpoint> out{caf::make_error(caf::sec::cannot_connect_to_node)};
  caf::scoped_actor self{sys};
  self->request(connector(sys), timeout, caf::connect_atom::value, host, port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
            if (!ptr) {
              out = caf::make_error(caf::sec::no_actor_published_at_port);
            } else {
              out = remote_endpoint{std::move(ptr), std::move(ifs)};
            }
          },
          [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace troupe
