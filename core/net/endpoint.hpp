// endpoint: "host:port" and "[IPv6]:port" as written in the config file and on the CLI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::net {

struct Endpoint {
  std::string host;  // an IP literal or a host name, without brackets
  std::uint16_t port = 0;

  // Port 0 is refused unless allow_zero (tests bind port 0 to get a free port).
  static std::optional<Endpoint> parse(std::string_view text, bool allow_zero = false);
  std::string toString() const;
  bool operator==(const Endpoint&) const = default;
};

}  // namespace relayguard::net
