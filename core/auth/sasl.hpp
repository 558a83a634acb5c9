// sasl: the wire formats of the SMTP AUTH mechanisms the relay offers (RFC 4954): strict base64
// for the exchange lines, and the PLAIN message (RFC 4616: authzid NUL authcid NUL passwd).
// Pure functions over untrusted bytes; they never throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard::auth {

// Strict base64 (RFC 4648 alphabet, padding required, no whitespace); nullopt when malformed.
std::optional<std::string> decodeBase64(std::string_view text);
std::string encodeBase64(std::string_view bytes);

struct PlainCredentials {
  std::string authorization_id;  // empty: act as the authentication identity
  std::string user;              // the authentication identity
  std::string password;
};

// Splits a decoded PLAIN message; nullopt unless it has exactly two NULs and a non-empty user.
std::optional<PlainCredentials> parsePlain(std::string_view decoded);

}  // namespace relayguard::auth
