#pragma once
// The files of a TLS identity: this process's certificate and private key,
// and the cluster CA that signed it and every peer's certificate. With them,
// every connection is mutually authenticated (actors/tls_config.hpp); a peer
// without a certificate from the same CA never gets past the TLS handshake.
// Made by `troupe cert` (tools/cert_command.hpp).
//
//   troupe::tls_files tls{"/etc/troupe/pki/n1.crt", "/etc/troupe/pki/n1.key",
//                         "/etc/troupe/pki/ca.crt"};
//   auto who = troupe::check_tls_files(tls);   // throws with the file and the reason
//   spdlog::info("TLS as {} (until {})", who.subject, who.not_after);

#include <string>

namespace troupe {

struct tls_files {
  std::string certificate;      ///< PEM certificate (chain) of this process
  std::string key;              ///< PEM private key of that certificate (mode 0600)
  std::string ca;               ///< PEM certificate(s) of the cluster CA
  std::string passphrase_file;  ///< optional: passphrase of an encrypted key (mode 0600)

  /// Whether any TLS file is configured (then all three must be).
  bool enabled() const { return !certificate.empty() || !key.empty() || !ca.empty(); }
};

struct tls_identity {
  std::string subject;    ///< e.g. "CN=n1,O=troupe"
  std::string not_after;  ///< e.g. "Dec  4 12:00:00 2028 GMT"
};

/// What the process does with its certificate: a node daemon accepts
/// connections (and opens some to other nodes), everyone else only connects.
enum class tls_role { connects, serves };

/// Checks what the TLS handshake will need, before any connection exists:
/// all three files given and readable; the key (and passphrase file) not
/// accessible to other users; the key decrypts and matches the certificate;
/// the certificate is valid now and signed by the CA, and may be used for
/// `role` (a node given a client's certificate ran, and every peer's
/// handshake failed with "unsupported certificate"). Throws
/// troupe_error(bad_config or io_error) naming the file and the reason.
tls_identity check_tls_files(const tls_files& files, tls_role role = tls_role::connects);

/// The passphrase in `files.passphrase_file` (trailing whitespace removed),
/// or "" without one.
std::string read_tls_passphrase(const tls_files& files);

}  // namespace troupe
