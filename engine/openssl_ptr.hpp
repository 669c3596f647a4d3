#pragma once
// Owning pointers for OpenSSL objects: each frees its object with the
// library's own function.
//
//   openssl_ptr<X509, X509_free> cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));

#include <memory>

namespace troupe {

template <class T, void (*Free)(T*)>
struct openssl_freer {
  void operator()(T* p) const { Free(p); }
};

template <class T, void (*Free)(T*)>
using openssl_ptr = std::unique_ptr<T, openssl_freer<T, Free>>;

}  // namespace troupe
