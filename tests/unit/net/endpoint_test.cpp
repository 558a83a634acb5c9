// endpoint_test: "host:port" and "[IPv6]:port" parsing and rendering.
#include "core/net/endpoint.hpp"

#include <gtest/gtest.h>

namespace relayguard::net {
namespace {

TEST(Endpoint, ParsesIpv4AndPort) {
  const auto ep = Endpoint::parse("192.0.2.1:25");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->host, "192.0.2.1");
  EXPECT_EQ(ep->port, 25);
  EXPECT_EQ(ep->toString(), "192.0.2.1:25");
}

TEST(Endpoint, ParsesBracketedIpv6AndPort) {
  const auto ep = Endpoint::parse("[2001:db8::1]:587");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->host, "2001:db8::1");
  EXPECT_EQ(ep->port, 587);
  EXPECT_EQ(ep->toString(), "[2001:db8::1]:587");
  const auto loopback = Endpoint::parse("[::1]:2525");
  ASSERT_TRUE(loopback.has_value());
  EXPECT_EQ(loopback->host, "::1");
  EXPECT_EQ(loopback->port, 2525);
}

TEST(Endpoint, ParsesHostnameAndPort) {
  const auto ep = Endpoint::parse("smtp.example.com:465");
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->host, "smtp.example.com");
  EXPECT_EQ(ep->port, 465);
  EXPECT_EQ(ep->toString(), "smtp.example.com:465");
  EXPECT_EQ(*ep, (Endpoint{"smtp.example.com", 465}));
}

TEST(Endpoint, PortRange) {
  ASSERT_TRUE(Endpoint::parse("h:1").has_value());
  EXPECT_EQ(Endpoint::parse("h:1")->port, 1);
  ASSERT_TRUE(Endpoint::parse("h:65535").has_value());
  EXPECT_EQ(Endpoint::parse("h:65535")->port, 65535);
  EXPECT_FALSE(Endpoint::parse("h:65536").has_value());
  EXPECT_FALSE(Endpoint::parse("h:4294967296").has_value());
  EXPECT_FALSE(Endpoint::parse("[::1]:65536").has_value());
}

TEST(Endpoint, PortZeroOnlyWhenAllowed) {
  EXPECT_FALSE(Endpoint::parse("127.0.0.1:0").has_value());
  EXPECT_FALSE(Endpoint::parse("[::1]:0").has_value());
  const auto ep = Endpoint::parse("127.0.0.1:0", true);
  ASSERT_TRUE(ep.has_value());
  EXPECT_EQ(ep->port, 0);
}

TEST(Endpoint, RefusesBareIpv6) {
  EXPECT_FALSE(Endpoint::parse("::1:25").has_value());
  EXPECT_FALSE(Endpoint::parse("2001:db8::1:25").has_value());
  EXPECT_FALSE(Endpoint::parse("::1").has_value());
}

TEST(Endpoint, RefusesMalformedText) {
  for (const char* text :
       {"", ":", ":25", "host", "host:", "host:x", "host:25x", "host:-1", "host:+25", "host: 25",
        "[::1]", "[::1]25", "[::1]:", "[]:25", "[::1:25", "[::1]:x"}) {
    EXPECT_FALSE(Endpoint::parse(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace relayguard::net
