// ip_address_test: IPv4/IPv6 parsing, IPv4-mapped normalisation and CIDR matching.
#include "core/net/ip_address.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace relayguard::net {
namespace {

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  if (!a) {
    ADD_FAILURE() << "cannot parse " << text;
    return IpAddress::v4({0, 0, 0, 0});
  }
  return *a;
}

Cidr cidr(std::string_view text) {
  auto c = Cidr::parse(text);
  if (!c) {
    ADD_FAILURE() << "cannot parse " << text;
    return *Cidr::parse("255.255.255.255/32");
  }
  return *c;
}

TEST(IpAddress, ParsesV4) {
  const auto a = IpAddress::parse("192.0.2.10");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->isV4());
  EXPECT_EQ(a->bytes()[0], 192);
  EXPECT_EQ(a->bytes()[1], 0);
  EXPECT_EQ(a->bytes()[2], 2);
  EXPECT_EQ(a->bytes()[3], 10);
  EXPECT_EQ(a->toString(), "192.0.2.10");
  EXPECT_EQ(*a, IpAddress::v4({192, 0, 2, 10}));
}

TEST(IpAddress, ParsesV6) {
  const auto a = IpAddress::parse("2001:db8::1");
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->isV4());
  EXPECT_EQ(a->bytes()[0], 0x20);
  EXPECT_EQ(a->bytes()[1], 0x01);
  EXPECT_EQ(a->bytes()[2], 0x0d);
  EXPECT_EQ(a->bytes()[3], 0xb8);
  EXPECT_EQ(a->bytes()[15], 1);
  EXPECT_EQ(a->toString(), "2001:db8::1");
  EXPECT_EQ(ip("::1").toString(), "::1");
  EXPECT_EQ(ip("::").toString(), "::");
  EXPECT_EQ(ip("2001:DB8:0:0:0:0:0:1"), ip("2001:db8::1"));
}

TEST(IpAddress, NormalisesV4MappedV6ToV4) {
  const auto a = ip("::ffff:127.0.0.1");
  EXPECT_TRUE(a.isV4());
  EXPECT_EQ(a, ip("127.0.0.1"));
  EXPECT_EQ(a.toString(), "127.0.0.1");
  EXPECT_EQ(ip("::ffff:7f00:1"), ip("127.0.0.1"));
  std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(IpAddress::v6(mapped), IpAddress::v4({10, 1, 2, 3}));
  // Only ::ffff:0:0/96 is mapped; the deprecated IPv4-compatible form stays IPv6.
  EXPECT_FALSE(ip("::1.2.3.4").isV4());
}

TEST(IpAddress, RefusesGarbage) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.04", "01.2.3.4",
                           "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "localhost", "1.2.3.4/8", "::1::",
                           "2001:db8:::1", "12345::", "[::1]", "1:2:3:4:5:6:7:8:9", "-1.2.3.4"}) {
    EXPECT_FALSE(IpAddress::parse(text).has_value()) << text;
  }
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')).has_value());
}

TEST(IpAddress, RefusesEmbeddedNul) {
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0junk", 12)).has_value());
  EXPECT_FALSE(IpAddress::parse(std::string_view("::1\0", 4)).has_value());
}

TEST(Cidr, V4Network) {
  const auto n = cidr("10.0.0.0/8");
  EXPECT_EQ(n.toString(), "10.0.0.0/8");
  EXPECT_TRUE(n.contains(ip("10.0.0.0")));
  EXPECT_TRUE(n.contains(ip("10.255.255.255")));
  EXPECT_TRUE(n.contains(ip("10.1.2.3")));
  EXPECT_FALSE(n.contains(ip("11.0.0.0")));
  EXPECT_FALSE(n.contains(ip("9.255.255.255")));
}

TEST(Cidr, V4MappedClientMatchesV4Network) {
  EXPECT_TRUE(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(cidr("127.0.0.0/8").contains(ip("::ffff:128.0.0.1")));
}

TEST(Cidr, FamiliesNeverMatchEachOther) {
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  EXPECT_FALSE(cidr("::/0").contains(ip("127.0.0.1")));
}

TEST(Cidr, PrefixZeroMatchesEverythingOfItsFamily) {
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("1.2.3.4")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(cidr("::/0").contains(ip("ffff::")));
}

TEST(Cidr, Prefix32And128AreHostRoutes) {
  EXPECT_TRUE(cidr("192.0.2.1/32").contains(ip("192.0.2.1")));
  EXPECT_FALSE(cidr("192.0.2.1/32").contains(ip("192.0.2.0")));
  EXPECT_FALSE(cidr("192.0.2.1/32").contains(ip("192.0.2.3")));
  EXPECT_TRUE(cidr("2001:db8::1/128").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("2001:db8::1/128").contains(ip("2001:db8::")));
}

TEST(Cidr, BareAddressIsHostRoute) {
  const auto v4 = cidr("192.0.2.1");
  EXPECT_EQ(v4.toString(), "192.0.2.1/32");
  EXPECT_TRUE(v4.contains(ip("192.0.2.1")));
  EXPECT_FALSE(v4.contains(ip("192.0.2.2")));
  const auto v6 = cidr("::1");
  EXPECT_EQ(v6.toString(), "::1/128");
  EXPECT_TRUE(v6.contains(ip("::1")));
  EXPECT_FALSE(v6.contains(ip("::2")));
}

TEST(Cidr, NonOctetPrefixes) {
  // /20: 172.16.0.0 - 172.16.15.255.
  const auto n20 = cidr("172.16.0.0/20");
  EXPECT_TRUE(n20.contains(ip("172.16.0.1")));
  EXPECT_TRUE(n20.contains(ip("172.16.15.255")));
  EXPECT_FALSE(n20.contains(ip("172.16.16.0")));
  EXPECT_FALSE(n20.contains(ip("172.17.0.0")));
  // /127: the pair ::/127 holds :: and ::1 only.
  const auto n127 = cidr("2001:db8::/127");
  EXPECT_TRUE(n127.contains(ip("2001:db8::")));
  EXPECT_TRUE(n127.contains(ip("2001:db8::1")));
  EXPECT_FALSE(n127.contains(ip("2001:db8::2")));
  EXPECT_FALSE(n127.contains(ip("2001:db8::3")));
  // /31 and /25 on v4, /33 and /65 on v6.
  EXPECT_TRUE(cidr("192.0.2.0/31").contains(ip("192.0.2.1")));
  EXPECT_FALSE(cidr("192.0.2.0/31").contains(ip("192.0.2.2")));
  EXPECT_TRUE(cidr("192.0.2.128/25").contains(ip("192.0.2.200")));
  EXPECT_FALSE(cidr("192.0.2.128/25").contains(ip("192.0.2.127")));
  EXPECT_TRUE(cidr("2001:db8::/33").contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(cidr("2001:db8::/33").contains(ip("2001:db8:8000::1")));
  EXPECT_TRUE(cidr("2001:db8::/65").contains(ip("2001:db8::7fff:0:0:1")));
  EXPECT_FALSE(cidr("2001:db8::/65").contains(ip("2001:db8::8000:0:0:1")));
}

TEST(Cidr, HostBitsInTheNetworkAreIgnored) {
  const auto n = cidr("10.1.2.3/8");
  EXPECT_TRUE(n.contains(ip("10.200.0.1")));
  EXPECT_FALSE(n.contains(ip("11.1.2.3")));
}

TEST(Cidr, RefusesBadPrefixesAndGarbage) {
  for (const char* text :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8 ",
        "10.0.0.0/ 8", "10.0.0.0/8/8", "10.0.0.0/a", "10.0.0.0/08x", "::/129", "::1/1000",
        "10.0.0/8", "example.com/8", "10.0.0.0\\8", "10.0.0.0/99999999999999999999"}) {
    EXPECT_FALSE(Cidr::parse(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace relayguard::net
