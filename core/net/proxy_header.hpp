// proxy_header: a strict parser of the PROXY protocol header (HAProxy's proxy-protocol.txt,
// versions 1 and 2) that a TCP load balancer sends before the client's first byte, naming the
// client it accepted the connection from.
//
// It works on bytes only, so it can be fuzzed and tested without sockets. A reader calls it with
// what it has read so far: kNeedMore says how many further bytes certainly belong to the header,
// so a reader that reads exactly that many never takes a byte of the SMTP (or TLS) stream that
// follows. v1 is one text line of at most 107 bytes (`PROXY TCP4|TCP6|UNKNOWN ...\r\n`); v2 is a
// 16-byte binary block followed by its stated length of addresses and TLVs (the TLVs are checked
// for structure and skipped). LOCAL (v2 health checks), UNKNOWN (v1) and the unspecified family
// (v2) carry no client: the connection's own address stands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/net/ip_address.hpp"

namespace relayguard::net {

// The v1 line's limit, CRLF included (the spec's worst case, TCP6 with full addresses).
inline constexpr std::size_t kProxyV1MaxLength = 107;
// Fewer bytes than this are never a whole header ("PROXY UNKNOWN\r\n"); the first byte is
// asked for alone, so that most garbage is refused without waiting for more.
inline constexpr std::size_t kProxyMinLength = 15;

struct ProxyAddresses {
  IpAddress source;  // the client the load balancer accepted
  std::uint16_t source_port = 0;
  IpAddress destination;  // the address the client connected to (the load balancer's)
  std::uint16_t destination_port = 0;
};

struct ProxyHeader {
  int version = 1;
  // None for LOCAL, UNKNOWN and UNSPEC: use the connection's own peer address.
  std::optional<ProxyAddresses> addresses;
};

struct ProxyParse {
  enum class Status { kNeedMore, kDone, kInvalid };
  Status status = Status::kNeedMore;
  std::size_t need = 0;    // kNeedMore: this many more bytes are part of the header (>= 1)
  std::size_t length = 0;  // kDone: the header's size; the bytes after it are the client's
  ProxyHeader header;      // kDone
  std::string error;       // kInvalid: why, for the log (never echoes the bytes themselves)
};

// Parses the header at the start of `bytes`, which may hold less than the header (kNeedMore) or
// more (kDone's length says where it ends).
ProxyParse parseProxyHeader(std::string_view bytes);

}  // namespace relayguard::net
