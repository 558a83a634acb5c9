// base64: the one base64 codec of the program (RFC 4648 alphabet, over OpenSSL's EVP block
// functions): SMTP AUTH exchanges in both directions, DKIM public keys, test servers.
// decodeBase64 is strict, because its input is untrusted: padding required, no whitespace, no
// characters outside the alphabet, nothing after the padding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard {

// nullopt when malformed (or longer than 64 KiB, far more than any SMTP line).
std::optional<std::string> decodeBase64(std::string_view text);
std::string encodeBase64(std::string_view bytes);

}  // namespace relayguard
