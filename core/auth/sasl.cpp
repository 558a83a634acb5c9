// sasl: the PLAIN message for SMTP AUTH (see sasl.hpp).
#include "core/auth/sasl.hpp"

namespace relayguard::auth {

std::optional<PlainCredentials> parsePlain(std::string_view decoded) {
  const auto first = decoded.find('\0');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const auto second = decoded.find('\0', first + 1);
  if (second == std::string_view::npos ||
      decoded.find('\0', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  PlainCredentials c;
  c.authorization_id = std::string(decoded.substr(0, first));
  c.user = std::string(decoded.substr(first + 1, second - first - 1));
  c.password = std::string(decoded.substr(second + 1));
  if (c.user.empty()) {
    return std::nullopt;
  }
  return c;
}

}  // namespace relayguard::auth
