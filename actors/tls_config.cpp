#include "actors/tls_config.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace troupe {

tls_identity enable_tls(caf::actor_system_config& cfg, const tls_files& files) {
  auto who = check_tls_files(files);
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = files.certificate;
  cfg.openssl_key = files.key;
  cfg.openssl_cafile = files.ca;
  cfg.openssl_passphrase = read_tls_passphrase(files);
  return who;
}

caf::io::middleman_actor connector(caf::actor_system& sys) {
  return sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                   : sys.middleman().actor_handle();
}

}  // namespace troupe
