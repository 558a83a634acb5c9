// ip_address: parsing and CIDR matching (see ip_address.hpp). Uses inet_pton/inet_ntop, which
// accept only the strict textual forms.
#include "core/net/ip_address.hpp"

#include <charconv>
#include <cstring>

#include <arpa/inet.h>

namespace relayguard::net {

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress ip;
  ip.v4_ = true;
  std::memcpy(ip.bytes_.data(), bytes.data(), 4);
  return ip;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) {
    return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  IpAddress ip;
  ip.v4_ = false;
  ip.bytes_ = bytes;
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would hide trailing garbage.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string s(text);
  std::array<std::uint8_t, 4> b4{};
  if (inet_pton(AF_INET, s.c_str(), b4.data()) == 1) {
    return v4(b4);
  }
  std::array<std::uint8_t, 16> b6{};
  if (inet_pton(AF_INET6, s.c_str(), b6.data()) == 1) {
    return v6(b6);
  }
  return std::nullopt;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  const unsigned max = ip->isV4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() ||
        prefix > max) {
      return std::nullopt;
    }
  }
  return Cidr(*ip, prefix);
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.isV4() != network_.isV4()) {
    return false;
  }
  const auto& a = ip.bytes();
  const auto& n = network_.bytes();
  const unsigned full = prefix_ / 8;
  if (std::memcmp(a.data(), n.data(), full) != 0) {
    return false;
  }
  const unsigned rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (n[full] & mask);
}

std::string Cidr::toString() const {
  return network_.toString() + "/" + std::to_string(prefix_);
}

}  // namespace relayguard::net
