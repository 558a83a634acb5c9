// password_hash: argon2id hashing and verification over libargon2 (see password_hash.hpp).
#include "core/auth/password_hash.hpp"

#include <array>
#include <stdexcept>
#include <vector>

#include <argon2.h>
#include <openssl/rand.h>

namespace relayguard::auth {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::string_view kPrefix = "$argon2id$v=19$";

}  // namespace

std::string hashPassword(std::string_view password, const HashParameters& params) {
  std::array<unsigned char, kSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    throw std::runtime_error("cannot draw a random salt (OpenSSL RAND_bytes failed)");
  }
  const std::size_t length = argon2_encodedlen(params.passes, params.memory_kib, params.lanes,
                                               kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(length);
  const int rc = argon2id_hash_encoded(params.passes, params.memory_kib, params.lanes,
                                       password.data(), password.size(), salt.data(), salt.size(),
                                       kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    throw std::runtime_error(std::string("argon2id hashing failed: ") + argon2_error_message(rc));
  }
  return std::string(encoded.data());
}

bool verifyPassword(const std::string& phc, std::string_view password) {
  if (!isPasswordHash(phc)) {
    return false;
  }
  return argon2id_verify(phc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool isPasswordHash(std::string_view phc) {
  if (!phc.starts_with(kPrefix) || phc.size() > 512) {
    return false;
  }
  for (char c : phc) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '$' || c == '=' || c == ',' || c == '+' || c == '/';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace relayguard::auth
