// secret: overwriting strings that held a secret (a password, an AUTH line) before their memory
// is released, so a later heap read or core dump does not find it.
#pragma once

#include <string>

#include <openssl/crypto.h>

namespace relayguard {

inline void wipeSecret(std::string& secret) {
  if (!secret.empty()) {
    OPENSSL_cleanse(secret.data(), secret.size());
  }
  secret.clear();
}

}  // namespace relayguard
