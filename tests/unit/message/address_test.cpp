// address_test: strict RFC 5321 path parsing of MAIL/RCPT addresses and domain validation.
#include "core/message/address.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

using Error = Address::Error;

Address::ParseResult parse(std::string_view path, bool allow_null = false,
                           bool allow_utf8 = false) {
  return Address::parsePath(path, allow_null, allow_utf8);
}

// Expects `path` to be refused with `error`.
void expectRefused(std::string_view path, Error error, bool allow_utf8 = false) {
  const auto r = parse(path, false, allow_utf8);
  EXPECT_FALSE(r.address.has_value()) << path;
  EXPECT_EQ(r.error, error) << path;
  EXPECT_FALSE(r.detail.empty()) << path;
}

TEST(Address, ParsesPlainPath) {
  const auto r = parse("<john.doe@example.com>");
  ASSERT_TRUE(r.address.has_value()) << r.detail;
  EXPECT_EQ(r.address->local(), "john.doe");
  EXPECT_EQ(r.address->domain(), "example.com");
  EXPECT_EQ(r.address->str(), "john.doe@example.com");
  EXPECT_EQ(r.address->bracketed(), "<john.doe@example.com>");
  EXPECT_FALSE(r.address->isNull());
}

TEST(Address, AcceptsAtextCharacters) {
  const auto r = parse("<a+tag_x-y=z#$&'*/?^`{|}~@sub.example-domain.org>");
  ASSERT_TRUE(r.address.has_value()) << r.detail;
  EXPECT_EQ(r.address->local(), "a+tag_x-y=z#$&'*/?^`{|}~");
  EXPECT_EQ(r.address->domain(), "sub.example-domain.org");
}

TEST(Address, KeepsCaseButRoutesOnLowerCaseDomain) {
  const auto r = parse("<John@Example.COM>");
  ASSERT_TRUE(r.address.has_value());
  EXPECT_EQ(r.address->local(), "John");
  EXPECT_EQ(r.address->domain(), "Example.COM");
  EXPECT_EQ(r.address->domainLower(), "example.com");
}

TEST(Address, NullPathOnlyWhenAllowed) {
  const auto allowed = parse("<>", true);
  ASSERT_TRUE(allowed.address.has_value());
  EXPECT_TRUE(allowed.address->isNull());
  EXPECT_EQ(allowed.address->str(), "");
  EXPECT_EQ(allowed.address->bracketed(), "<>");
  EXPECT_EQ(*allowed.address, Address::null());

  const auto refused = parse("<>", false);
  EXPECT_FALSE(refused.address.has_value());
  EXPECT_EQ(refused.error, Error::kSyntax);
}

TEST(Address, RefusesSourceRoutes) {
  expectRefused("<@relay.example:user@example.com>", Error::kSourceRoute);
  expectRefused("<@a.example,@b.example:user@example.com>", Error::kSourceRoute);
}

TEST(Address, RefusesPercentAndBangHacks) {
  expectRefused("<user%victim.example@relay.example>", Error::kRoutingHack);
  expectRefused("<victim.example!user@relay.example>", Error::kRoutingHack);
  expectRefused("<\"user%victim.example\"@relay.example>", Error::kRoutingHack);
  expectRefused("<\"victim!user\"@relay.example>", Error::kRoutingHack);
  expectRefused("<\"user@victim.example\"@relay.example>", Error::kRoutingHack);
}

TEST(Address, AcceptsQuotedLocalPart) {
  const auto r = parse("<\"john doe\"@example.com>");
  ASSERT_TRUE(r.address.has_value()) << r.detail;
  EXPECT_EQ(r.address->local(), "\"john doe\"");
  EXPECT_EQ(r.address->domain(), "example.com");

  const auto escaped = parse("<\"a\\\"b>c\"@example.com>");
  ASSERT_TRUE(escaped.address.has_value()) << escaped.detail;
  EXPECT_EQ(escaped.address->local(), "\"a\\\"b>c\"");
}

TEST(Address, RefusesMalformedQuotedLocalPart) {
  expectRefused("<\"unterminated@example.com>", Error::kSyntax);
  expectRefused("<\"a\"b\"@example.com>", Error::kSyntax);
  expectRefused("<\"a\\\"@example.com>", Error::kSyntax);  // the escape eats the closing quote
  expectRefused("<\"tab\x01\"@example.com>", Error::kSyntax);
  expectRefused("<x\"a\"@example.com>", Error::kSyntax);
}

TEST(Address, AcceptsAddressLiterals) {
  const auto v4 = parse("<postmaster@[192.0.2.1]>");
  ASSERT_TRUE(v4.address.has_value()) << v4.detail;
  EXPECT_EQ(v4.address->domain(), "[192.0.2.1]");
  EXPECT_EQ(v4.address->domainLower(), "[192.0.2.1]");

  const auto v6 = parse("<postmaster@[IPv6:::1]>");
  ASSERT_TRUE(v6.address.has_value()) << v6.detail;
  EXPECT_EQ(v6.address->domain(), "[IPv6:::1]");
  EXPECT_EQ(v6.address->domainLower(), "[ipv6:::1]");

  EXPECT_TRUE(parse("<a@[IPv6:2001:db8::1]>").address.has_value());
  EXPECT_TRUE(parse("<a@[1.2.3.4]>").address.has_value());
}

TEST(Address, RefusesBadAddressLiterals) {
  for (const char* path : {"<a@[]>", "<a@[1.2.3]>", "<a@[256.1.1.1]>", "<a@[::1]>",
                           "<a@[IPv6:1.2.3.4]>", "<a@[IPv6:]>", "<a@[IPv6:zz::1]>", "<a@[1.2.3.4>",
                           "<a@1.2.3.4]>", "<a@[tag:foo]>", "<a@[ 1.2.3.4]>"}) {
    expectRefused(path, Error::kSyntax);
  }
}

TEST(Address, RefusesInvalidDomains) {
  for (const char* path : {"<a@-example.com>", "<a@example-.com>", "<a@example..com>",
                           "<a@.example.com>", "<a@example.com.>", "<a@exa_mple.com>",
                           "<a@exa mple.com>", "<a@example.com:25>", "<a@>", "<a@b@c>"}) {
    expectRefused(path, Error::kSyntax);
  }
}

TEST(Address, RefusesMalformedLocalParts) {
  for (const char* path : {"<.a@example.com>", "<a.@example.com>", "<a..b@example.com>",
                           "<a b@example.com>", "<a(b)@example.com>", "<a,b@example.com>",
                           "<a\\b@example.com>", "<a[b]@example.com>", "<@example.com>"}) {
    const auto r = parse(path);
    EXPECT_FALSE(r.address.has_value()) << path;
  }
  expectRefused("<a;b@example.com>", Error::kSyntax);
}

TEST(Address, RefusesMissingBracketsAndDomain) {
  expectRefused("john@example.com", Error::kSyntax);
  expectRefused("<john@example.com", Error::kSyntax);
  expectRefused("john@example.com>", Error::kSyntax);
  expectRefused("<", Error::kSyntax);
  expectRefused("", Error::kSyntax);
  expectRefused("<john>", Error::kNoDomain);
}

TEST(Address, LocalPartLimitIs64Octets) {
  const std::string ok(64, 'a');
  const auto r = parse("<" + ok + "@example.com>");
  ASSERT_TRUE(r.address.has_value()) << r.detail;
  EXPECT_EQ(r.address->local(), ok);
  expectRefused("<" + std::string(65, 'a') + "@example.com>", Error::kTooLong);
  EXPECT_FALSE(Address::parseMailbox(std::string(65, 'a') + "@example.com").has_value());
  EXPECT_TRUE(Address::parseMailbox(ok + "@example.com").has_value());
}

TEST(Address, PathLimitIs256OctetsWithBrackets) {
  // "<" + "a@" + domain + ">" = 256 octets with a 252-octet domain.
  const std::string domain = std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                             std::string(63, 'd') + "." + std::string(60, 'e');
  ASSERT_EQ(domain.size(), 252U);
  const std::string path = "<a@" + domain + ">";
  ASSERT_EQ(path.size(), 256U);
  const auto r = parse(path);
  ASSERT_TRUE(r.address.has_value()) << r.detail;
  EXPECT_EQ(r.address->domain(), domain);
  expectRefused("<aa@" + domain + ">", Error::kTooLong);
}

TEST(Address, DomainLimitIs255Octets) {
  const std::string label = std::string(63, 'x');
  const std::string d255 = label + "." + label + "." + label + "." + label;
  ASSERT_EQ(d255.size(), 255U);
  const std::string d256 = label + "." + label + "." + label + "." + std::string(62, 'x') + ".y";
  ASSERT_EQ(d256.size(), 256U);
  EXPECT_TRUE(isValidDomain(d255, false));
  EXPECT_FALSE(isValidDomain(d256, false));
  EXPECT_TRUE(Address::parseMailbox("a@" + d255).has_value());
  EXPECT_FALSE(Address::parseMailbox("a@" + d256).has_value());
}

TEST(Address, DomainLabelLimitIs63Octets) {
  EXPECT_TRUE(isValidDomain(std::string(63, 'a') + ".com", false));
  EXPECT_FALSE(isValidDomain(std::string(64, 'a') + ".com", false));
}

TEST(Address, IsValidDomain) {
  EXPECT_TRUE(isValidDomain("localhost", false));
  EXPECT_TRUE(isValidDomain("mail.example.com", false));
  EXPECT_TRUE(isValidDomain("x1-y2.example", false));
  EXPECT_TRUE(isValidDomain("123.example", false));
  EXPECT_FALSE(isValidDomain("", false));
  EXPECT_FALSE(isValidDomain(".", false));
  EXPECT_FALSE(isValidDomain("a..b", false));
  EXPECT_FALSE(isValidDomain("a_b", false));
  EXPECT_FALSE(isValidDomain("*.example.com", false));
  EXPECT_FALSE(isValidDomain("b\xc3\xbcro.example", false));
  EXPECT_TRUE(isValidDomain("b\xc3\xbcro.example", true));
}

TEST(Address, Utf8OnlyWithSmtpUtf8) {
  const std::string path = "<j\xc3\xb6rg@b\xc3\xbcro.example>";  // jörg@büro.example
  const auto refused = parse(path, false, false);
  EXPECT_FALSE(refused.address.has_value());
  EXPECT_EQ(refused.error, Error::kUtf8NotDeclared);

  const auto accepted = parse(path, false, true);
  ASSERT_TRUE(accepted.address.has_value()) << accepted.detail;
  EXPECT_EQ(accepted.address->local(), "j\xc3\xb6rg");
  EXPECT_EQ(accepted.address->domain(), "b\xc3\xbcro.example");

  const auto cjk = parse(
      "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", false, true);
  EXPECT_TRUE(cjk.address.has_value()) << cjk.detail;
  EXPECT_FALSE(Address::parseMailbox("j\xc3\xb6rg@example.com", false).has_value());
  EXPECT_TRUE(Address::parseMailbox("j\xc3\xb6rg@example.com", true).has_value());
}

TEST(Address, RefusesInvalidUtf8EvenWithSmtpUtf8) {
  for (const char* path : {
           "<a\xff@example.com>",              // never valid in UTF-8
           "<a\xc0\xaf@example.com>",          // overlong '/'
           "<a\xe0\x80\xaf@example.com>",      // overlong 3-byte form
           "<a\xed\xa0\x80@example.com>",      // UTF-16 surrogate
           "<a\xf4\x90\x80\x80@example.com>",  // above U+10FFFF
           "<a\xe4\xbd@example.com>",          // truncated sequence
           "<a@example.\x80>",                 // lone continuation byte
       }) {
    expectRefused(path, Error::kSyntax, true);
  }
  EXPECT_FALSE(Address::parseMailbox("a\xff@example.com", true).has_value());
  EXPECT_FALSE(Address::parseMailbox("a@b\xc3.example", true).has_value());
}

TEST(Address, ParseMailboxTakesBareForm) {
  const auto a = Address::parseMailbox("ops@example.net");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->local(), "ops");
  EXPECT_EQ(a->domain(), "example.net");
  EXPECT_FALSE(Address::parseMailbox("<ops@example.net>").has_value());
  EXPECT_FALSE(Address::parseMailbox("ops").has_value());
  EXPECT_FALSE(Address::parseMailbox("@example.net").has_value());
  EXPECT_FALSE(Address::parseMailbox("ops@").has_value());
  EXPECT_FALSE(Address::parseMailbox("").has_value());
}

TEST(Address, EqualityComparesLocalAndDomain) {
  EXPECT_EQ(*Address::parseMailbox("a@example.com"), *Address::parseMailbox("a@example.com"));
  EXPECT_NE(*Address::parseMailbox("a@example.com"), *Address::parseMailbox("A@example.com"));
  EXPECT_NE(*Address::parseMailbox("a@example.com"), *Address::parseMailbox("a@example.org"));
}

}  // namespace
}  // namespace relayguard
