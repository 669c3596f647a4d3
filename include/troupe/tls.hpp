#pragma once
// TLS with mutual certificate authentication between a service engine and
// its remote clients (engine.hpp `listen`, client.hpp `connect`): both sides
// hold a certificate signed by the same cluster CA (made with `troupe cert`);
// a peer without one never gets past the TLS handshake. With TLS, the
// shared secret becomes optional: give both to require both.
//
//   troupe::tls_options tls{"/etc/troupe/pki/svc.crt", "/etc/troupe/pki/svc.key",
//                           "/etc/troupe/pki/ca.crt"};
//   opts.tls = tls;                                      // engine_options
//   troupe::client_options co;  co.tls = client_tls;     // the client's own certificate
//   auto c = troupe::client::connect("10.0.0.5:7100", "", co);

#include <string>

namespace troupe {

struct tls_options {
  std::string certificate;      ///< PEM certificate of this process, signed by the CA
  std::string key;              ///< its private key; refused if other users can read it
  std::string ca;               ///< PEM certificate of the cluster CA
  std::string passphrase_file;  ///< optional: passphrase of an encrypted key

  /// Whether TLS is configured (then certificate, key and ca are all needed).
  bool enabled() const { return !certificate.empty() || !key.empty() || !ca.empty(); }
};

}  // namespace troupe
