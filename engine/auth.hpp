#pragma once
// Cluster-secret challenge-response: proves that a peer holds the cluster
// secret without sending it. No actors here; the node daemon
// (actors/node.hpp) runs the exchange over CAF.
//
//   client                                   node daemon
//     |-- hello ------------------------------>|  nonce_n = make_nonce()
//     |<--------------------------- nonce_n ---|
//     |   nonce_c = make_nonce()
//     |-- auth(auth_proof(s, nonce_n, auth_context("client", c, n)), nonce_c) -->|
//     |<------ auth_proof(s, nonce_c, auth_context("node", c, n)) --------------|
//     |   verify_proof(...) : the node holds the secret too
//
// Binding both node ids into the context stops a man in the middle from
// relaying a proof to another node; the role label keeps a node's answer from
// ever being a valid client proof.
//
//   auto secret = troupe::load_secret("/etc/troupe/secret");   // >= 16 bytes
//   auto proof = troupe::auth_proof(secret, nonce, context);
//   bool ok = troupe::verify_proof(secret, nonce, context, proof);

#include <cstddef>
#include <string>

namespace troupe {

/// Shortest accepted secret, in bytes (after trailing whitespace is removed).
inline constexpr std::size_t min_secret_bytes = 16;

/// Reads the cluster secret from `path`; trailing whitespace (a final newline
/// of `openssl rand -hex 32 > FILE`) is not part of it. Throws
/// troupe_error(io_error) if the file cannot be read, and
/// troupe_error(bad_config) if other users may access it (a world-readable
/// secret is no secret; engine/private_file.hpp) or the secret is empty or
/// shorter than `min_secret_bytes`. Logs nothing.
std::string load_secret(const std::string& path);

/// `secret` without trailing whitespace, as load_secret reads it from a
/// file: a library caller that passes a file's text verbatim (with its final
/// newline) holds the same secret as a daemon that read that file.
std::string trim_secret(std::string secret);

/// 32 fresh random bytes from OpenSSL's CSPRNG, as 64 lower-case hex digits.
/// Throws troupe_error(io_error) if the generator fails.
std::string make_nonce();

/// "troupe-auth-v1|ROLE|CLIENT|SERVER": what a proof is bound to.
std::string auth_context(const std::string& role, const std::string& client_node,
                         const std::string& server_node);

/// Lower-case hex HMAC-SHA256 keyed with `secret` over `nonce + "|" + context`.
std::string auth_proof(const std::string& secret, const std::string& nonce,
                       const std::string& context);

/// Whether `proof` is auth_proof(secret, nonce, context); compares in constant
/// time. An empty nonce never verifies.
bool verify_proof(const std::string& secret, const std::string& nonce, const std::string& context,
                  const std::string& proof);

}  // namespace troupe
