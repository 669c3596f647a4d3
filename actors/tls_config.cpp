#include "actors/tls_config.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "actors/remote_connect.hpp"

namespace troupe {

tls_identity enable_tls(caf::actor_system_config& cfg, const tls_files& files, tls_role role) {
  auto who = check_tls_files(files, role);
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = files.certificate;
  cfg.openssl_key = files.key;
  cfg.openssl_cafile = files.ca;
  cfg.openssl_passphrase = read_tls_passphrase(files);
  return who;
}

std::string connect_failure_hint(const caf::error& err, const tls_files& tls) {
  // Bytes came back, but not CAF's handshake: another service's port.
  if (err.compare(caf::make_error(caf::sec::malformed_basp_message)) == 0) {
    return " (something answers at that port, but not a troupe node: a metrics port, or "
           "another service?)";
  }
  // Closed before the handshake on every try for a few seconds
  // (connect_endpoint): refused, or another protocol on the other end.
  const bool closed = closed_before_handshake(err);
  const std::string busy =
      closed ? "; or the node refuses newcomers while too many unauthenticated connections wait "
               "(a flood of them: see its log)"
             : "";
  if (tls.enabled()) {
    return " (TLS: does the node listen with TLS, and is its certificate signed by " + tls.ca +
           "?" + busy + ")";
  }
  if (closed)
    return " (does the node listen with TLS? then this side needs TLS files too" + busy + ")";
  // After a first try lost CAF's handshake race, the next waits for the
  // node to speak first (connect_endpoint): a TLS listener never does.
  if (accepted_but_silent(err)) {
    return " (does the node listen with TLS? it sends nothing first; then this side needs TLS "
           "files too)";
  }
  return {};
}

caf::io::middleman_actor connector(caf::actor_system& sys) {
  return sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                   : sys.middleman().actor_handle();
}

}  // namespace troupe
