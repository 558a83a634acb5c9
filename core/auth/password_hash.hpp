// password_hash: salted, deliberately slow password hashes for SMTP AUTH users.
//
// argon2id (RFC 9106) through the reference libargon2, stored as the PHC string
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" so the parameters travel with each hash and can
// be raised later without breaking old entries. The salt is 16 bytes from OpenSSL's CSPRNG.
// Verification recomputes the hash with the stored parameters and compares in constant time
// (libargon2's argon2_verify). Both calls cost tens of milliseconds and about 19 MiB by design:
// never call them on an I/O thread.
#pragma once

#include <string>
#include <string_view>

namespace relayguard::auth {

struct HashParameters {
  // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
  unsigned memory_kib = 19456;
  unsigned passes = 2;
  unsigned lanes = 1;
};

// The PHC string of a fresh hash of `password`. Throws std::runtime_error if libargon2 fails
// (out of memory) or the random source does.
std::string hashPassword(std::string_view password, const HashParameters& params = {});

// True only when `phc` is a well-formed argon2id string and `password` matches it.
bool verifyPassword(const std::string& phc, std::string_view password);

// True when `phc` looks like a hash this module wrote (argon2id PHC string), for validating a
// users file without knowing any password.
bool isPasswordHash(std::string_view phc);

}  // namespace relayguard::auth
