// ip_address: IPv4/IPv6 addresses and CIDR networks for relay access control.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), which a dual-stack socket reports for IPv4
// clients, are normalised to IPv4 so that "127.0.0.0/8" matches them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::net {

class IpAddress {
 public:
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);

  bool isV4() const { return v4_; }
  // 4 or 16 significant bytes.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  std::string toString() const;
  bool operator==(const IpAddress&) const = default;

 private:
  IpAddress() = default;
  bool v4_ = true;
  std::array<std::uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  // "10.0.0.0/8", "::1/128", or a bare address (a host route).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  std::string toString() const;

 private:
  Cidr(IpAddress network, unsigned prefix) : network_(network), prefix_(prefix) {}
  IpAddress network_;
  unsigned prefix_;
};

}  // namespace relayguard::net
