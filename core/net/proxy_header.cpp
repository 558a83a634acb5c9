// proxy_header: PROXY protocol v1/v2 parsing (see proxy_header.hpp).
#include "core/net/proxy_header.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace relayguard::net {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t kV2FixedLength = 16;

ProxyParse needMore(std::size_t n) {
  ProxyParse p;
  p.status = ProxyParse::Status::kNeedMore;
  p.need = n;
  return p;
}

ProxyParse invalid(std::string why) {
  ProxyParse p;
  p.status = ProxyParse::Status::kInvalid;
  p.error = std::move(why);
  return p;
}

ProxyParse done(std::size_t length, ProxyHeader header) {
  ProxyParse p;
  p.status = ProxyParse::Status::kDone;
  p.length = length;
  p.header = std::move(header);
  return p;
}

// True when `bytes` and `signature` agree over their common length.
bool agrees(std::string_view bytes, std::string_view signature) {
  const std::size_t n = std::min(bytes.size(), signature.size());
  return bytes.substr(0, n) == signature.substr(0, n);
}

// A v1 port: decimal 0..65535 without sign or leading zeros.
std::optional<std::uint16_t> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// A v1 address of the named family: TCP4 takes dotted IPv4 only, TCP6 IPv6 text only (an
// IPv4-mapped one becomes IPv4, as everywhere else in the relay).
std::optional<IpAddress> parseV1Address(std::string_view text, bool v6) {
  if (text.find(':') != std::string_view::npos) {
    if (!v6) {
      return std::nullopt;
    }
  } else if (v6) {
    return std::nullopt;
  }
  return IpAddress::parse(text);
}

// The fields of a v1 line after "PROXY " and before CRLF.
ProxyParse parseV1Line(std::string_view line, std::size_t length) {
  ProxyHeader h;
  h.version = 1;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    return done(length, h);  // the rest of an UNKNOWN line is ignored, as the spec says
  }
  std::array<std::string_view, 5> f{};
  std::size_t n = 0;
  std::size_t pos = 0;
  while (n < f.size()) {
    const std::size_t sp = line.find(' ', pos);
    f[n++] = line.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
    if (sp == std::string_view::npos) {
      pos = line.size() + 1;
      break;
    }
    pos = sp + 1;
  }
  if (n != f.size() || pos <= line.size()) {
    return invalid("PROXY v1: expected 'TCP4|TCP6 source destination sport dport'");
  }
  if (f[0] != "TCP4" && f[0] != "TCP6") {
    return invalid("PROXY v1: unknown protocol (TCP4, TCP6 or UNKNOWN)");
  }
  const bool v6 = f[0] == "TCP6";
  const auto src = parseV1Address(f[1], v6);
  const auto dst = parseV1Address(f[2], v6);
  if (!src || !dst) {
    return invalid(std::string("PROXY v1: not an ") + (v6 ? "IPv6" : "IPv4") + " address");
  }
  const auto sport = parsePort(f[3]);
  const auto dport = parsePort(f[4]);
  if (!sport || !dport) {
    return invalid("PROXY v1: not a port number");
  }
  h.addresses = ProxyAddresses{*src, *sport, *dst, *dport};
  return done(length, h);
}

ProxyParse parseV1(std::string_view bytes) {
  const std::size_t lf = bytes.find('\n');
  if (lf == std::string_view::npos) {
    if (bytes.size() >= kProxyV1MaxLength) {
      return invalid("PROXY v1: no CRLF within 107 bytes");
    }
    // A line that does not end in CR yet still needs CR LF; one that does, the LF.
    const std::size_t need = bytes.back() == '\r' ? 1 : 2;
    return needMore(std::min(need, kProxyV1MaxLength - bytes.size()));
  }
  const std::size_t length = lf + 1;
  if (length > kProxyV1MaxLength) {
    return invalid("PROXY v1: no CRLF within 107 bytes");
  }
  if (lf == 0 || bytes[lf - 1] != '\r') {
    return invalid("PROXY v1: the line must end with CRLF");
  }
  const std::string_view line = bytes.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      return invalid("PROXY v1: control or non-ASCII byte in the line");
    }
  }
  return parseV1Line(line, length);
}

std::uint16_t be16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                    static_cast<unsigned char>(b[at + 1]));
}

// The TLVs after the addresses: type (1), length (2, big-endian), value; they must fill the
// rest exactly. Their contents are not used.
bool tlvsWellFormed(std::string_view tlvs) {
  std::size_t pos = 0;
  while (pos < tlvs.size()) {
    if (tlvs.size() - pos < 3) {
      return false;
    }
    const std::size_t len = be16(tlvs, pos + 1);
    pos += 3;
    if (tlvs.size() - pos < len) {
      return false;
    }
    pos += len;
  }
  return true;
}

ProxyParse parseV2(std::string_view bytes) {
  if (bytes.size() < kV2FixedLength) {
    return needMore(kV2FixedLength - bytes.size());
  }
  const std::size_t length = kV2FixedLength + be16(bytes, 14);
  if (bytes.size() < length) {
    return needMore(length - bytes.size());
  }
  const auto ver_cmd = static_cast<unsigned char>(bytes[12]);
  const auto fam_proto = static_cast<unsigned char>(bytes[13]);
  if ((ver_cmd >> 4) != 2) {
    return invalid("PROXY v2: unsupported version " + std::to_string(ver_cmd >> 4));
  }
  ProxyHeader h;
  h.version = 2;
  const unsigned command = ver_cmd & 0x0f;
  if (command == 0) {
    return done(length, h);  // LOCAL: the load balancer's own connection (a health check)
  }
  if (command != 1) {
    return invalid("PROXY v2: unknown command " + std::to_string(command));
  }
  const unsigned family = fam_proto >> 4;
  const unsigned protocol = fam_proto & 0x0f;
  if (family == 0) {
    return done(length, h);  // UNSPEC: no client address given
  }
  if (family != 1 && family != 2) {
    return invalid(family == 3 ? "PROXY v2: AF_UNIX clients are not supported"
                               : "PROXY v2: unknown address family " + std::to_string(family));
  }
  if (protocol != 1) {
    return invalid("PROXY v2: not a TCP (STREAM) connection");
  }
  const std::string_view body = bytes.substr(kV2FixedLength, length - kV2FixedLength);
  const std::size_t ip_len = family == 1 ? 4 : 16;
  const std::size_t block = 2 * ip_len + 4;
  if (body.size() < block) {
    return invalid("PROXY v2: address block too short for its family");
  }
  if (!tlvsWellFormed(body.substr(block))) {
    return invalid("PROXY v2: malformed TLV");
  }
  auto ip = [&](std::size_t at) {
    if (family == 1) {
      std::array<std::uint8_t, 4> a{};
      std::memcpy(a.data(), body.data() + at, a.size());
      return IpAddress::v4(a);
    }
    std::array<std::uint8_t, 16> a{};
    std::memcpy(a.data(), body.data() + at, a.size());
    return IpAddress::v6(a);
  };
  h.addresses =
      ProxyAddresses{ip(0), be16(body, 2 * ip_len), ip(ip_len), be16(body, 2 * ip_len + 2)};
  return done(length, h);
}

}  // namespace

ProxyParse parseProxyHeader(std::string_view bytes) {
  const bool v1 = agrees(bytes, kV1Prefix);
  const bool v2 = agrees(bytes, kV2Signature);
  if (!v1 && !v2) {
    return invalid("not a PROXY protocol header");
  }
  if (bytes.empty()) {
    return needMore(1);  // one byte tells most garbage (EHLO, a TLS hello) from a header at once
  }
  if (bytes.size() < kProxyMinLength) {
    return needMore(kProxyMinLength - bytes.size());
  }
  return v1 ? parseV1(bytes) : parseV2(bytes);
}

}  // namespace relayguard::net
