#include "tools/tls_options.hpp"

namespace troupe::cli {

void add_tls_options(CLI::App& cmd, tls_files& tls) {
  cmd.add_option("--tls-cert", tls.certificate,
                 "TLS: this process's certificate, signed by the cluster CA (troupe cert)")
      ->check(CLI::ExistingFile)
      ->group("TLS (mutual certificate authentication)");
  cmd.add_option("--tls-key", tls.key, "TLS: the certificate's private key (mode 0600)")
      ->check(CLI::ExistingFile)
      ->group("TLS (mutual certificate authentication)");
  cmd.add_option("--tls-ca", tls.ca,
                 "TLS: the cluster CA's certificate; peers must be signed by it")
      ->check(CLI::ExistingFile)
      ->group("TLS (mutual certificate authentication)");
  cmd.add_option("--tls-passphrase", tls.passphrase_file,
                 "TLS: file holding the passphrase of an encrypted key (mode 0600)")
      ->check(CLI::ExistingFile)
      ->group("TLS (mutual certificate authentication)");
}

}  // namespace troupe::cli
