#include "engine/tls_files.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

#include "engine/errors.hpp"
#include "engine/openssl_ptr.hpp"
#include "engine/private_file.hpp"

namespace troupe {

namespace {

using bio_ptr = openssl_ptr<BIO, BIO_free_all>;
using x509_ptr = openssl_ptr<X509, X509_free>;
using pkey_ptr = openssl_ptr<EVP_PKEY, EVP_PKEY_free>;
using store_ptr = openssl_ptr<X509_STORE, X509_STORE_free>;
using store_ctx_ptr = openssl_ptr<X509_STORE_CTX, X509_STORE_CTX_free>;

[[noreturn]] void fail(const std::string& message) {
  ERR_clear_error();
  throw troupe_error(errc::bad_config, message);
}

std::string openssl_reason() {
  const auto code = ERR_peek_last_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

bio_ptr open_file(const std::string& path, const std::string& what) {
  bio_ptr bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) {
    ERR_clear_error();
    throw troupe_error(errc::io_error, "cannot read the " + what + " file " + path);
  }
  return bio;
}

x509_ptr read_certificate(BIO* bio, const std::string& path, const std::string& what) {
  x509_ptr cert{PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)};
  if (!cert)
    fail("the " + what + " file " + path + " holds no PEM certificate (" + openssl_reason() + ")");
  return cert;
}

// Never lets OpenSSL prompt on a terminal for a passphrase: a daemon has none.
int passphrase_callback(char* buf, int size, int, void* user) {
  const auto* pass = static_cast<const std::string*>(user);
  if (pass == nullptr || pass->empty() || size <= 0) return -1;
  const auto n = std::min<std::size_t>(pass->size(), static_cast<std::size_t>(size));
  std::memcpy(buf, pass->data(), n);
  return static_cast<int>(n);
}

std::string name_of(const X509_NAME* name) {
  bio_ptr out{BIO_new(BIO_s_mem())};
  X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string time_of(const ASN1_TIME* t) {
  bio_ptr out{BIO_new(BIO_s_mem())};
  ASN1_TIME_print(out.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

std::string read_tls_passphrase(const tls_files& files) {
  if (files.passphrase_file.empty()) return {};
  return read_private_file(files.passphrase_file, "TLS key passphrase");
}

tls_identity check_tls_files(const tls_files& files, tls_role role) {
  if (files.certificate.empty() || files.key.empty() || files.ca.empty()) {
    fail(
        "TLS needs a certificate, its private key and the cluster CA together "
        "(--tls-cert, --tls-key, --tls-ca)");
  }
  check_private_file(files.key, "TLS private key");
  const auto passphrase = read_tls_passphrase(files);
  ERR_clear_error();

  store_ptr store{X509_STORE_new()};
  {
    auto bio = open_file(files.ca, "TLS CA");
    int count = 0;
    while (x509_ptr ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
      X509_STORE_add_cert(store.get(), ca.get());
      ++count;
    }
    ERR_clear_error();  // the end of the file reads as an error
    if (count == 0) fail("the TLS CA file " + files.ca + " holds no PEM certificate");
  }
  auto cert_bio = open_file(files.certificate, "TLS certificate");
  const auto cert = read_certificate(cert_bio.get(), files.certificate, "TLS certificate");
  // Intermediates, if the file holds a chain.
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain{
      sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }};
  while (X509* more = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(chain.get(), more);
  }
  ERR_clear_error();

  auto key_bio = open_file(files.key, "TLS private key");
  pkey_ptr key{PEM_read_bio_PrivateKey(key_bio.get(), nullptr, passphrase_callback,
                                       const_cast<std::string*>(&passphrase))};
  if (!key) {
    fail("cannot read the TLS private key " + files.key +
         (passphrase.empty() ? " (if it is encrypted, give its passphrase file)"
                             : " with the given passphrase") +
         ": " + openssl_reason());
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    fail("the TLS private key " + files.key + " does not belong to the certificate " +
         files.certificate);
  }
  store_ctx_ptr ctx{X509_STORE_CTX_new()};
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), chain.get()) != 1) {
    fail("cannot check the TLS certificate " + files.certificate + ": " + openssl_reason());
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    fail("the TLS certificate " + files.certificate + " does not verify against the CA " +
         files.ca + ": " + X509_verify_cert_error_string(err));
  }
  ERR_clear_error();
  // Its extended key usage, where it has one (a certificate without may do
  // anything): a node serves and connects to other nodes, the rest connect.
  const bool client_ok = X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 1;
  const bool server_ok = X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1;
  ERR_clear_error();
  if (role == tls_role::serves && !server_ok) {
    fail("the TLS certificate " + files.certificate +
         " may not serve (its extended key usage lacks serverAuth): a node needs a node "
         "certificate (troupe cert node), not a client's; peers' handshakes would fail with "
         "\"unsupported certificate\"");
  }
  if (!client_ok) {
    fail("the TLS certificate " + files.certificate +
         " may not connect (its extended key usage lacks clientAuth): peers would refuse it");
  }
  return {name_of(X509_get_subject_name(cert.get())), time_of(X509_get0_notAfter(cert.get()))};
}

}  // namespace troupe
