// proxy_header_test: the PROXY protocol v1/v2 parser: every form a load balancer sends, and the
// truncated, oversized, garbled and wrongly signed headers it must refuse; and that a reader
// following its kNeedMore counts never reads past the header.
#include "core/net/proxy_header.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/proxy_headers.hpp"

namespace relayguard::net {
namespace {

using Status = ProxyParse::Status;

using test::bytesOf;

std::string v2(std::uint8_t ver_cmd, std::uint8_t fam_proto, const std::string& body) {
  return test::proxyV2(ver_cmd, fam_proto, body);
}

// 192.0.2.10:40000 -> 10.0.0.5:25
const std::string kInet = bytesOf({192, 0, 2, 10, 10, 0, 0, 5, 0x9c, 0x40, 0, 25});

// 2001:db8::1:50000 -> 2001:db8::5:587
std::string inet6Body() {
  std::string s(36, '\0');
  s[0] = 0x20, s[1] = 0x01, s[2] = 0x0d, s[3] = static_cast<char>(0xb8), s[15] = 1;
  s[16] = 0x20, s[17] = 0x01, s[18] = 0x0d, s[19] = static_cast<char>(0xb8), s[31] = 5;
  s[32] = static_cast<char>(0xc3), s[33] = 0x50, s[34] = 0x02, s[35] = 0x4b;
  return s;
}

// Reads `stream` as the relay does: only as many bytes as the parser asks for.
ProxyParse readLikeTheRelay(const std::string& stream, std::size_t& consumed) {
  std::string got;
  for (;;) {
    const ProxyParse p = parseProxyHeader(got);
    if (p.status != Status::kNeedMore) {
      consumed = got.size();
      return p;
    }
    EXPECT_GE(p.need, 1u);
    if (got.size() + p.need > stream.size()) {
      consumed = got.size();
      return p;  // the stream ended first
    }
    got += stream.substr(got.size(), p.need);
  }
}

void expectAddresses(const ProxyParse& p, const std::string& src, std::uint16_t sport,
                     const std::string& dst, std::uint16_t dport) {
  ASSERT_TRUE(p.header.addresses);
  EXPECT_EQ(p.header.addresses->source.toString(), src);
  EXPECT_EQ(p.header.addresses->source_port, sport);
  EXPECT_EQ(p.header.addresses->destination.toString(), dst);
  EXPECT_EQ(p.header.addresses->destination_port, dport);
}

TEST(ProxyHeader, V1Tcp4) {
  const std::string h = "PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\r\n";
  const auto p = parseProxyHeader(h + "EHLO x\r\n");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, h.size());
  EXPECT_EQ(p.header.version, 1);
  expectAddresses(p, "192.0.2.10", 40000, "10.0.0.5", 25);
}

TEST(ProxyHeader, V1Tcp6AndMappedV4) {
  auto p = parseProxyHeader("PROXY TCP6 2001:db8::1 2001:db8::5 50000 587\r\n");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.header.addresses->source.toString(), "2001:db8::1");
  EXPECT_FALSE(p.header.addresses->source.isV4());
  p = parseProxyHeader("PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.header.addresses->source.toString(), "192.0.2.7");
}

TEST(ProxyHeader, V1Unknown) {
  auto p = parseProxyHeader("PROXY UNKNOWN\r\n");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, 15u);
  EXPECT_FALSE(p.header.addresses);
  // Whatever follows UNKNOWN is ignored.
  p = parseProxyHeader("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_FALSE(p.header.addresses);
}

TEST(ProxyHeader, V1Longest) {
  // The longest address line (104 bytes) and the spec's limit of 107 are accepted, 108 not.
  const std::string h =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  EXPECT_EQ(parseProxyHeader(h).status, Status::kDone);
  const std::string at_limit = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(at_limit.size(), kProxyV1MaxLength);
  EXPECT_EQ(parseProxyHeader(at_limit).status, Status::kDone);
  const std::string over = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  EXPECT_EQ(parseProxyHeader(over).status, Status::kInvalid);
}

TEST(ProxyHeader, V1Refused) {
  for (const std::string bad : {
           "PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\n",      // LF without CR
           "PROXY TCP4 192.0.2.10 10.0.0.5 40000\r\n",       // a field missing
           "PROXY TCP4 192.0.2.10 10.0.0.5 40000 25 9\r\n",  // one too many
           "PROXY TCP4 192.0.2.10  10.0.0.5 40000 25\r\n",   // double space
           "PROXY TCP4 2001:db8::1 10.0.0.5 40000 25\r\n",   // IPv6 under TCP4
           "PROXY TCP6 192.0.2.10 10.0.0.5 40000 25\r\n",    // IPv4 under TCP6
           "PROXY TCP4 192.0.2.300 10.0.0.5 40000 25\r\n",   // not an address
           "PROXY TCP4 192.0.2.10 10.0.0.5 65536 25\r\n",    // port out of range
           "PROXY TCP4 192.0.2.10 10.0.0.5 040000 25\r\n",   // leading zero
           "PROXY TCP4 192.0.2.10 10.0.0.5 -1 25\r\n",       // sign
           "PROXY UDP4 192.0.2.10 10.0.0.5 40000 25\r\n",    // not TCP
           "PROXY tcp4 192.0.2.10 10.0.0.5 40000 25\r\n",    // case matters
           "PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\t\r\n",  // control byte
           "PROXY TCP4 192.0.2.10\r 10.0.0.5 40000 25\r\n",  // CR inside
           "PROXY \r\n                                   ",  // nothing
       }) {
    const auto p = parseProxyHeader(bad);
    EXPECT_EQ(p.status, Status::kInvalid) << bad;
    EXPECT_FALSE(p.error.empty());
  }
}

TEST(ProxyHeader, V1Oversized) {
  std::string h = "PROXY UNKNOWN " + std::string(120, 'x') + "\r\n";
  auto p = parseProxyHeader(h);
  EXPECT_EQ(p.status, Status::kInvalid);
  // Without the CRLF, 107 bytes are enough to refuse it.
  p = parseProxyHeader(h.substr(0, kProxyV1MaxLength));
  EXPECT_EQ(p.status, Status::kInvalid);
  std::size_t consumed = 0;
  p = readLikeTheRelay(h, consumed);
  EXPECT_EQ(p.status, Status::kInvalid);
  EXPECT_EQ(consumed, kProxyV1MaxLength);
}

TEST(ProxyHeader, NotAProxyHeader) {
  for (const std::string& bad : {std::string("EHLO client.test\r\n"), std::string("\x16\x03\x01"),
                                 std::string("PROXX"), std::string("\r\n\r\n\x01")}) {
    const auto p = parseProxyHeader(bad);
    EXPECT_EQ(p.status, Status::kInvalid) << bad;
  }
}

TEST(ProxyHeader, Truncated) {
  EXPECT_EQ(parseProxyHeader("").status, Status::kNeedMore);
  EXPECT_EQ(parseProxyHeader("").need, 1u);  // the first byte alone refuses most garbage
  EXPECT_EQ(parseProxyHeader("P").need, kProxyMinLength - 1);
  auto p = parseProxyHeader("PROXY TCP4 192.0.2.10");
  EXPECT_EQ(p.status, Status::kNeedMore);
  EXPECT_EQ(p.need, 2u);
  p = parseProxyHeader("PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\r");
  EXPECT_EQ(p.status, Status::kNeedMore);
  EXPECT_EQ(p.need, 1u);
  const std::string h2 = v2(0x21, 0x11, kInet);
  for (std::size_t n = 0; n < h2.size(); ++n) {
    p = parseProxyHeader(h2.substr(0, n));
    ASSERT_EQ(p.status, Status::kNeedMore) << n;
    EXPECT_LE(n + p.need, h2.size()) << n;  // never asks for a byte past the header
  }
}

TEST(ProxyHeader, V2ProxyInet) {
  const std::string h = v2(0x21, 0x11, kInet);
  const auto p = parseProxyHeader(h + "EHLO");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, 28u);
  EXPECT_EQ(p.header.version, 2);
  expectAddresses(p, "192.0.2.10", 40000, "10.0.0.5", 25);
}

TEST(ProxyHeader, V2ProxyInet6) {
  const auto p = parseProxyHeader(v2(0x21, 0x21, inet6Body()));
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, 52u);
  expectAddresses(p, "2001:db8::1", 50000, "2001:db8::5", 587);
}

TEST(ProxyHeader, V2TlvsAreSkipped) {
  // PP2_TYPE_ALPN "smtp", PP2_TYPE_AUTHORITY empty, PP2_TYPE_NOOP with 3 bytes.
  const std::string tlvs =
      bytesOf({0x01, 0, 4, 's', 'm', 't', 'p', 0x02, 0, 0, 0x04, 0, 3, 0, 0, 0});
  const auto p = parseProxyHeader(v2(0x21, 0x11, kInet + tlvs) + "EHLO");
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, 16 + kInet.size() + tlvs.size());
  EXPECT_EQ(p.header.addresses->source.toString(), "192.0.2.10");
  // A TLV running past the header, or a stray byte, is refused.
  EXPECT_EQ(parseProxyHeader(v2(0x21, 0x11, kInet + bytesOf({0x01, 0, 9, 's'}))).status,
            Status::kInvalid);
  EXPECT_EQ(parseProxyHeader(v2(0x21, 0x11, kInet + bytesOf({0x01}))).status, Status::kInvalid);
}

TEST(ProxyHeader, V2Local) {
  // LOCAL: a health check; any address block is ignored.
  auto p = parseProxyHeader(v2(0x20, 0x00, ""));
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_EQ(p.length, 16u);
  EXPECT_FALSE(p.header.addresses);
  p = parseProxyHeader(v2(0x20, 0x11, kInet));
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_FALSE(p.header.addresses);
  // PROXY with the unspecified family: no client address either.
  p = parseProxyHeader(v2(0x21, 0x00, ""));
  ASSERT_EQ(p.status, Status::kDone) << p.error;
  EXPECT_FALSE(p.header.addresses);
}

TEST(ProxyHeader, V2Refused) {
  const std::vector<std::string> bad = {
      v2(0x11, 0x11, kInet),                  // version 1 in a v2 block
      v2(0x31, 0x11, kInet),                  // version 3
      v2(0x22, 0x11, kInet),                  // unknown command
      v2(0x21, 0x12, kInet),                  // DGRAM
      v2(0x21, 0x10, kInet),                  // INET without a protocol
      v2(0x21, 0x31, std::string(216, 'a')),  // AF_UNIX
      v2(0x21, 0x41, kInet),                  // unknown family
      v2(0x21, 0x11, kInet.substr(0, 11)),    // address block too short
      v2(0x21, 0x21, kInet),                  // INET6 with an INET block
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto p = parseProxyHeader(bad[i]);
    EXPECT_EQ(p.status, Status::kInvalid) << i;
    EXPECT_FALSE(p.error.empty()) << i;
  }
}

TEST(ProxyHeader, WrongSignature) {
  std::string h = v2(0x21, 0x11, kInet);
  h[7] = 'q';  // "QUIT" -> "qUIT"
  EXPECT_EQ(parseProxyHeader(h).status, Status::kInvalid);
  // Refused as soon as the bytes read stop matching, without waiting for more.
  EXPECT_EQ(parseProxyHeader(h.substr(0, 8)).status, Status::kInvalid);
}

TEST(ProxyHeader, ReaderNeverReadsPastTheHeader) {
  const std::string after = "EHLO client.test\r\n";
  for (const std::string& h :
       {std::string("PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\r\n"),
        std::string("PROXY UNKNOWN\r\n"),
        std::string("PROXY TCP6 2001:db8::1 2001:db8::5 50000 587\r\n"), v2(0x21, 0x11, kInet),
        v2(0x20, 0x00, ""), v2(0x21, 0x21, inet6Body() + bytesOf({0x04, 0, 1, 0}))}) {
    std::size_t consumed = 0;
    const auto p = readLikeTheRelay(h + after, consumed);
    ASSERT_EQ(p.status, Status::kDone) << p.error;
    EXPECT_EQ(consumed, h.size());
    EXPECT_EQ(p.length, h.size());
  }
}

}  // namespace
}  // namespace relayguard::net
