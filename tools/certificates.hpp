#pragma once
// The certificates of a Troupe cluster, made with OpenSSL's C API (what
// `troupe cert` runs): one CA per cluster, and a certificate per node daemon
// and per client (trainer, `troupe status`, a service's client), all ECDSA
// P-256 keys. The CA's key signs; keep it off the nodes.
//
//   pki/ca.crt, pki/ca.key        make_ca("pki", "my cluster", 3650)
//   pki/n1.crt, pki/n1.key        make_certificate("pki", "n1", cert_role::node, 825, {"10.0.0.1"})
//   pki/trainer.crt, .key         make_certificate("pki", "trainer", cert_role::client, 825, {})
//
// Node certificates may serve and connect (serverAuth, clientAuth); client
// certificates may only connect (clientAuth): a stolen client certificate
// cannot impersonate a node to a trainer. Keys are written with mode 0600
// and nothing is ever overwritten.

#include <string>
#include <vector>

namespace troupe::cli {

enum class cert_role { node, client };

/// Writes DIR/ca.key (0600) and DIR/ca.crt: a self-signed CA named `name`,
/// valid for `days`. Creates DIR (0700) if needed. Throws
/// troupe_error(bad_config) if the files exist, io_error if they cannot be
/// written.
void make_ca(const std::string& dir, const std::string& name, int days);

/// Writes DIR/NAME.key (0600) and DIR/NAME.crt signed by DIR/ca.{crt,key}.
/// `hosts` (IP addresses or DNS names) go into subjectAltName: informative,
/// Troupe does not check host names (the CA is the trust boundary). Throws
/// troupe_error(bad_config) for a bad name or existing files, io_error when
/// the CA cannot be read.
void make_certificate(const std::string& dir, const std::string& name, cert_role role, int days,
                      const std::vector<std::string>& hosts);

}  // namespace troupe::cli
