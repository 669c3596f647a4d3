#include "engine/auth.hpp"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>

#include "engine/errors.hpp"
#include "engine/private_file.hpp"

namespace troupe {

namespace {

std::string to_hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  return out;
}

}  // namespace

std::string load_secret(const std::string& path) {
  // Refuses a secret other users could read: it would be no secret.
  auto secret = read_private_file(path, "cluster secret");
  if (secret.empty())
    throw troupe_error(errc::bad_config, "the cluster secret file " + path + " is empty");
  if (secret.size() < min_secret_bytes) {
    throw troupe_error(errc::bad_config, "the cluster secret in " + path + " has " +
                                             std::to_string(secret.size()) + " bytes; at least " +
                                             std::to_string(min_secret_bytes) + " are required");
  }
  return secret;
}

std::string trim_secret(std::string secret) {
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  return secret;
}

std::string make_nonce() {
  std::array<unsigned char, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw troupe_error(errc::io_error, "the OpenSSL random generator failed");
  }
  return to_hex(raw.data(), raw.size());
}

std::string auth_context(const std::string& role, const std::string& client_node,
                         const std::string& server_node) {
  return "troupe-auth-v1|" + role + "|" + client_node + "|" + server_node;
}

std::string auth_proof(const std::string& secret, const std::string& nonce,
                       const std::string& context) {
  const std::string data = nonce + "|" + context;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  return to_hex(mac.data(), len);
}

bool verify_proof(const std::string& secret, const std::string& nonce, const std::string& context,
                  const std::string& proof) {
  if (nonce.empty()) return false;
  const std::string expected = auth_proof(secret, nonce, context);
  if (proof.size() != expected.size()) return false;
  return CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) == 0;
}

}  // namespace troupe
