// sasl: the wire formats of the SMTP AUTH mechanisms the relay offers (RFC 4954): the PLAIN
// message (RFC 4616: authzid NUL authcid NUL passwd); the exchange lines are strict base64
// (core/util/base64.hpp). Pure functions over untrusted bytes; they never throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard::auth {

struct PlainCredentials {
  std::string authorization_id;  // empty: act as the authentication identity
  std::string user;              // the authentication identity
  std::string password;
};

// Splits a decoded PLAIN message; nullopt unless it has exactly two NULs and a non-empty user.
std::optional<PlainCredentials> parsePlain(std::string_view decoded);

}  // namespace relayguard::auth
