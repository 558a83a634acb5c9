// proxy_headers: PROXY protocol v2 headers built byte by byte, for the parser's unit tests and
// the integration tests that play a load balancer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace relayguard::test {

// Bytes from numbers: bytesOf({192, 0, 2, 10}).
inline std::string bytesOf(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) {
    s += static_cast<char>(b);
  }
  return s;
}

// The 12-byte signature, version/command, family/protocol, the big-endian length of `body`,
// then `body` (addresses and TLVs).
inline std::string proxyV2(std::uint8_t ver_cmd, std::uint8_t fam_proto, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam_proto);
  h += static_cast<char>((body.size() >> 8) & 0xff);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

}  // namespace relayguard::test
