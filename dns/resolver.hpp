// resolver: the one DNS interface of the program. Delivery (MX selection) and the SPF bridge ask
// it; UnboundResolver (unbound_resolver.hpp) is the implementation used by `serve`.
//
// Failure contract: an Answer is kOk, kNoData (the name exists, no record of that type),
// kNxDomain (the name does not exist) or kTempFail. A timeout, SERVFAIL, REFUSED, a broken
// reply or a DNSSEC-bogus answer is always kTempFail, never "no record": callers retry or defer,
// they never conclude from a resolver failure that a domain has no mail server or no SPF record.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

namespace relayguard::dns {

enum class RrType : std::uint16_t {
  kA = 1,
  kCname = 5,
  kPtr = 12,
  kMx = 15,
  kTxt = 16,
  kAaaa = 28,
};

std::string_view toString(RrType t);

enum class Status { kOk, kNoData, kNxDomain, kTempFail };

std::string_view toString(Status s);

struct Answer {
  Status status = Status::kTempFail;
  // Decoded records: A/AAAA as address text, MX as "<preference> <host>", TXT as the record's
  // strings joined, PTR/CNAME as the host. Host names have no trailing dot.
  std::vector<std::string> records;
  std::uint32_t ttl = 0;  // seconds the answer may be cached (negative answers too)
  std::string error;      // kTempFail: what went wrong, for logs and replies
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Resolves name/type; never throws for DNS trouble (that is kTempFail).
  virtual asio::awaitable<Answer> query(const std::string& name, RrType type) = 0;
  // The same for code running on the blocking pool (libspf2's DNS layer): blocks the calling
  // thread. Never call it on an I/O thread.
  virtual Answer queryBlocking(const std::string& name, RrType type) = 0;
};

}  // namespace relayguard::dns
