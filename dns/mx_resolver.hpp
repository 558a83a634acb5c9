// mx_resolver: where mail for a domain goes when its route has no smart hosts (RFC 5321 5.1).
//
// MX records are tried by preference, in random order among equal preferences (load spreading);
// with no MX record the domain itself is the one host (its A/AAAA records). A null MX ("0 .",
// RFC 7505) or a domain that does not exist is a permanent failure; a resolver failure is a
// temporary one. At most `max_hosts` MX hosts are looked up and tried per delivery attempt.
// Each host's addresses come IPv4 first, then IPv6.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "dns/resolver.hpp"

namespace relayguard::dns {

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // "." for a null MX
};

// "10 mx.example.com" as Answer::records gives it; nullopt if malformed.
std::optional<MxRecord> parseMx(const std::string& record);

// Sorts by preference and shuffles each group of equal preference.
void orderMx(std::vector<MxRecord>& records, std::mt19937& rng);

struct MxHost {
  std::string name;
  std::vector<std::string> addresses;  // IPv4 first, then IPv6
};

struct MxResult {
  enum class Kind { kHosts, kPermanent, kTemporary };
  enum class Reason { kNone, kNullMx, kNoSuchDomain, kNoAddress, kDnsFailure };
  Kind kind = Kind::kTemporary;
  Reason reason = Reason::kNone;
  std::vector<MxHost> hosts;  // kHosts: in the order to try, none without addresses
  std::string error;          // otherwise: what went wrong, for the delivery reply
};

struct MxOptions {
  std::size_t max_hosts = 5;
  // A host with many A/AAAA records must not turn one attempt into that many connections.
  std::size_t max_addresses_per_host = 4;
};

asio::awaitable<MxResult> resolveMx(Resolver& resolver, const std::string& domain,
                                    MxOptions options);

}  // namespace relayguard::dns
