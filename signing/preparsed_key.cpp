// preparsed_key: the PEM_read_bio_PrivateKey override that hands libopendkim a pre-parsed key
// (see preparsed_key.hpp for why and how).
#include "signing/preparsed_key.hpp"

#include <atomic>

#include <openssl/pem.h>

namespace relayguard::signing {
namespace {

thread_local EVP_PKEY* t_offered = nullptr;
std::atomic<std::uint64_t> g_taken{0};

}  // namespace

OfferedKey::OfferedKey(EVP_PKEY* key) {
  t_offered = key;
}

OfferedKey::~OfferedKey() {
  t_offered = nullptr;
}

std::uint64_t takenCount() {
  return g_taken.load(std::memory_order_relaxed);
}

}  // namespace relayguard::signing

// OpenSSL's declaration (openssl/pem.h) is extern "C"; this is its definition for the program.
EVP_PKEY* PEM_read_bio_PrivateKey(BIO* bp, EVP_PKEY** x, pem_password_cb* cb, void* u) {
  using namespace relayguard::signing;
  EVP_PKEY* offered = t_offered;
  if (offered != nullptr && x == nullptr) {
    t_offered = nullptr;  // one message, one key
    if (EVP_PKEY_up_ref(offered) == 1) {
      g_taken.fetch_add(1, std::memory_order_relaxed);
      return offered;
    }
  }
  // What OpenSSL 3's own PEM_read_bio_PrivateKey does.
  return PEM_read_bio_PrivateKey_ex(bp, x, cb, u, nullptr, nullptr);
}
