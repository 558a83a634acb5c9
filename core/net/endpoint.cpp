// endpoint: parsing "host:port" (see endpoint.hpp).
#include "core/net/endpoint.hpp"

#include <charconv>

namespace relayguard::net {

std::optional<Endpoint> Endpoint::parse(std::string_view text, bool allow_zero) {
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return std::nullopt;  // bare IPv6 must be bracketed
    }
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (ep.host.empty() || port.empty()) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535 ||
      (value == 0 && !allow_zero)) {
    return std::nullopt;
  }
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

std::string Endpoint::toString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

}  // namespace relayguard::net
