#include "actors/service_runtime.hpp"

#include <caf/all.hpp>

#include "actors/table_directory.hpp"
#include "actors/tls_config.hpp"
#include "engine/job_config.hpp"

namespace troupe {

user_thread_call::~user_thread_call() {
  caf::logger::set_current_actor_system(nullptr);
}

service_config::service_config(std::size_t threads, const tls_options& tls,
                               std::chrono::milliseconds peer_timeout, tls_role role)
    : actor_config(threads, peer_timeout) {
  register_directory_types(*this);
  if (tls.enabled()) {
    enable_tls(*this, tls_files{tls.certificate, tls.key, tls.ca, tls.passphrase_file}, role);
  }
}

std::string check_peer_timeout(std::chrono::milliseconds t) {
  if (t >= peer_timeout_of(min_peer_timeout_s) && t <= peer_timeout_of(max_peer_timeout_s)) {
    return {};
  }
  return "peer_timeout of " + std::to_string(t.count()) + " ms: it must lie between 1 s and 600 s";
}

namespace {

api_errc from_engine(errc code) {
  switch (code) {
    case errc::wrong_size:
      return api_errc::wrong_width;
    case errc::non_finite:
      return api_errc::non_finite;
    case errc::unknown_table:
      return api_errc::unknown_table;
    case errc::out_of_range:
      return api_errc::out_of_range;
    case errc::malformed_message:
    case errc::version_mismatch:
      return api_errc::bad_argument;
    case errc::timeout:
      return api_errc::timeout;
    case errc::peer_lost:
    case errc::node_stopping:
      return api_errc::peer_lost;
    // The only bad_config a shard or directory answers a caller with is
    // "not authenticated".
    case errc::bad_config:
    case errc::auth_failed:
      return api_errc::auth_failed;
    case errc::stopped:
      return api_errc::stopped;
    default:
      return api_errc::internal;
  }
}

api_errc from_system(caf::sec code) {
  switch (code) {
    case caf::sec::request_timeout:
      return api_errc::timeout;
    case caf::sec::request_receiver_down:
    case caf::sec::remote_linking_failed:
    case caf::sec::no_route_to_receiving_node:
      return api_errc::peer_lost;
    case caf::sec::cannot_connect_to_node:
    case caf::sec::no_actor_published_at_port:
    case caf::sec::unexpected_actor_messaging_interface:
    case caf::sec::invalid_argument:
      return api_errc::unreachable;
    default:
      return api_errc::internal;
  }
}

}  // namespace

api_error to_api_error(const caf::error& err, const std::string& context) {
  api_errc code = api_errc::internal;
  if (!err) {
    // CAF 0.17's category() dereferences the error's data: never on none.
  } else if (err.category() == troupe_error_category()) {
    code = from_engine(static_cast<errc>(err.code()));
  } else if (err.category() == caf::make_error(caf::sec::request_timeout).category()) {
    code = from_system(static_cast<caf::sec>(err.code()));
  } else if (err.category() == caf::make_error(caf::exit_reason::kill).category()) {
    code = api_errc::peer_lost;  // a down_msg reason: the peer ended
  }
  std::string text = err ? describe(err) : std::string{"unknown error"};
  return {code, context.empty() ? text : context + ": " + text};
}

}  // namespace troupe
