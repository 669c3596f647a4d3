#include "tools/certificates.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/errors.hpp"
#include "engine/openssl_ptr.hpp"
#include "engine/private_file.hpp"

namespace troupe::cli {

namespace {

namespace fs = std::filesystem;

using pkey_ptr = openssl_ptr<EVP_PKEY, EVP_PKEY_free>;
using x509_ptr = openssl_ptr<X509, X509_free>;
using bn_ptr = openssl_ptr<BIGNUM, BN_free>;
using ext_ptr = openssl_ptr<X509_EXTENSION, X509_EXTENSION_free>;

struct file_closer {
  void operator()(FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<FILE, file_closer>;

[[noreturn]] void openssl_failed(const std::string& what) {
  char buf[256] = "unknown OpenSSL error";
  if (const auto code = ERR_get_error()) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  throw troupe_error(errc::io_error, what + ": " + buf);
}

pkey_ptr new_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key) openssl_failed("cannot generate an EC P-256 key");
  return key;
}

// A new file (never an existing one) with `mode`, for PEM output.
file_ptr create(const fs::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      throw troupe_error(errc::bad_config, path.string() + " exists already; not overwritten");
    }
    throw troupe_error(errc::io_error, "cannot create " + path.string());
  }
  ::fchmod(fd, mode);  // whatever the umask
  file_ptr f{::fdopen(fd, "w")};
  if (!f) {
    ::close(fd);
    throw troupe_error(errc::io_error, "cannot write " + path.string());
  }
  return f;
}

void refuse_existing(const fs::path& path) {
  if (fs::exists(path)) {
    throw troupe_error(errc::bad_config, path.string() + " exists already; not overwritten");
  }
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ext_ptr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    openssl_failed("cannot add the certificate extension " + value);
  }
}

// A certificate for `key` named CN=name, O=troupe; its issuer and serial are
// set by the caller's signing step.
x509_ptr new_certificate(EVP_PKEY* key, const std::string& name, int days) {
  x509_ptr cert{X509_new()};
  if (!cert) openssl_failed("cannot create a certificate");
  X509_set_version(cert.get(), 2);  // v3
  bn_ptr serial{BN_new()};
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    openssl_failed("cannot draw a serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);  // clocks a little apart
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(name.c_str());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("troupe"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) != 1) {
    openssl_failed("cannot name the certificate '" + name + "'");
  }
  return cert;
}

void write_pair(const fs::path& dir, const std::string& stem, EVP_PKEY* key, X509* cert) {
  const auto key_path = dir / (stem + ".key");
  const auto cert_path = dir / (stem + ".crt");
  refuse_existing(cert_path);
  {
    auto f = create(key_path, 0600);
    if (PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      openssl_failed("cannot write " + key_path.string());
    }
  }
  auto f = create(cert_path, 0644);
  if (PEM_write_X509(f.get(), cert) != 1) openssl_failed("cannot write " + cert_path.string());
}

void check_days(int days) {
  if (days < 1 || days > 36500)
    throw troupe_error(errc::bad_config, "--days must be in [1, 36500]");
}

void ensure_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec)) {
    fs::permissions(dir, fs::perms::owner_all, ec);
  } else if (ec) {
    throw troupe_error(errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  }
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

void make_ca(const std::string& dir, const std::string& name, int days) {
  check_days(days);
  ensure_dir(dir);
  auto key = new_key();
  auto cert = new_certificate(key.get(), name, days);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) openssl_failed("cannot sign the CA");
  write_pair(dir, "ca", key.get(), cert.get());
}

void make_certificate(const std::string& dir, const std::string& name, cert_role role, int days,
                      const std::vector<std::string>& hosts) {
  check_days(days);
  if (name.empty() || name == "ca" || name.find_first_of("/\\ ") != std::string::npos ||
      name.front() == '.') {
    throw troupe_error(
        errc::bad_config,
        "a certificate name must be a plain file name other than 'ca': '" + name + "'");
  }
  const fs::path base{dir};
  check_private_file((base / "ca.key").string(), "CA private key");
  file_ptr ca_cert_file{std::fopen((base / "ca.crt").c_str(), "r")};
  file_ptr ca_key_file{std::fopen((base / "ca.key").c_str(), "r")};
  if (!ca_cert_file || !ca_key_file) {
    throw troupe_error(errc::io_error, "cannot read the CA in " + dir +
                                           " (ca.crt, ca.key); make it with 'troupe cert ca'");
  }
  x509_ptr ca{PEM_read_X509(ca_cert_file.get(), nullptr, nullptr, nullptr)};
  pkey_ptr ca_key{PEM_read_PrivateKey(ca_key_file.get(), nullptr, nullptr, nullptr)};
  if (!ca || !ca_key) openssl_failed("cannot read the CA in " + dir);
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    throw troupe_error(errc::bad_config, dir + "/ca.key does not belong to " + dir + "/ca.crt");
  }
  auto key = new_key();
  auto cert = new_certificate(key.get(), name, days);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_extension(cert.get(), ca.get(), NID_ext_key_usage,
                role == cert_role::node ? "serverAuth,clientAuth" : "clientAuth");
  add_extension(cert.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  if (!hosts.empty()) {
    std::string san;
    for (const auto& h : hosts) {
      if (!san.empty()) san += ",";
      san += (is_ip(h) ? "IP:" : "DNS:") + h;
    }
    add_extension(cert.get(), ca.get(), NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    openssl_failed("cannot sign the certificate of " + name);
  }
  write_pair(base, name, key.get(), cert.get());
}

}  // namespace troupe::cli
