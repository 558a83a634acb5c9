// proxy_header_fuzz: libFuzzer target for the PROXY protocol header parser. The input is the
// byte stream a "load balancer" sends. The parser is driven the way the relay's reader drives it
// (reading exactly the bytes it asks for), and checked against its promises: it always asks for
// at least one byte, never for a byte past the header it then accepts, accepts only headers
// within the v1 limit of 107 bytes, gives the same answer on the whole stream as on the bytes
// read, and reports where an accepted header ends the same way however much follows it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/net/proxy_header.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using relayguard::net::parseProxyHeader;
using relayguard::net::ProxyParse;
using Status = ProxyParse::Status;

bool sameHeader(const ProxyParse& a, const ProxyParse& b) {
  if (a.length != b.length || a.header.version != b.header.version ||
      a.header.addresses.has_value() != b.header.addresses.has_value()) {
    return false;
  }
  if (!a.header.addresses) {
    return true;
  }
  const auto& x = *a.header.addresses;
  const auto& y = *b.header.addresses;
  return x.source == y.source && x.destination == y.destination && x.source_port == y.source_port &&
         x.destination_port == y.destination_port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);

  // Read as the relay does: exactly what the parser asks for.
  std::size_t got = 0;
  ProxyParse p = parseProxyHeader(stream.substr(0, 0));
  while (p.status == Status::kNeedMore) {
    FUZZ_CHECK(p.need >= 1);
    if (got + p.need > stream.size()) {
      break;  // the connection would wait (and time out)
    }
    got += p.need;
    p = parseProxyHeader(stream.substr(0, got));
  }
  if (p.status == Status::kDone) {
    FUZZ_CHECK(p.length == got);  // everything read is header, nothing after it was read
    FUZZ_CHECK(p.header.version == 1 || p.header.version == 2);
    if (p.header.version == 1) {
      FUZZ_CHECK(p.length <= relayguard::net::kProxyV1MaxLength);
    }
    // The same answer with the rest of the stream behind it.
    const ProxyParse whole = parseProxyHeader(stream);
    FUZZ_CHECK(whole.status == Status::kDone && sameHeader(whole, p));
  } else if (p.status == Status::kInvalid) {
    FUZZ_CHECK(!p.error.empty());
    FUZZ_CHECK(parseProxyHeader(stream).status == Status::kInvalid);
  }
  return 0;
}
