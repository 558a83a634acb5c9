// spf_evaluator: SPF (RFC 7208) checks with libspf2, over our resolver.
//
// libspf2 does the record parsing and evaluation; its DNS comes from a custom SPF_dns_server_t
// layer (the "bridge") that asks dns::Resolver, so [dns] servers and the resolver's cache apply
// to SPF too. The bridge also closes libspf2 1.2.10's gaps against RFC 7208, measured with the
// OpenSPF rfc7208-tests.yml suite (tests/unit/dns/spf_suite_test.cpp):
//   - DNS lookup terms (a, mx, ptr, exists, include, redirect) are counted across the whole
//     evaluation, includes too; the 11th is refused and the result is permerror (4.6.4).
//   - Void lookups (NXDOMAIN or no records) of those terms are counted; the third is permerror.
//   - A resolver failure (timeout, SERVFAIL) is temperror, never "invalid" or "none".
//   - An IPv4-mapped IPv6 client (::ffff:a.b.c.d) is evaluated as the IPv4 client it is.
//   - Only the first 10 PTR names are used (5.5); libspf2 makes more of them a permerror.
// Limits once exceeded make the bridge answer every further query with a failure, so an abusive
// record tree costs at most max_lookups queries.
//
// evaluateSpf() blocks (libspf2 is synchronous): run it on the blocking pool. It creates its own
// libspf2 server per call, so calls on different threads share nothing but the resolver.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dns/resolver.hpp"

namespace relayguard::dns {

enum class SpfResult { kPass, kFail, kSoftFail, kNeutral, kNone, kTempError, kPermError };

std::string_view toString(SpfResult r);

struct SpfQuery {
  std::string ip;         // the client: IPv4, IPv6 or IPv4-mapped IPv6
  std::string mail_from;  // the envelope sender; empty for the null sender
  std::string helo;       // the HELO/EHLO name; its domain is checked when mail_from is empty
};

struct SpfOptions {
  unsigned max_lookups = 10;      // RFC 7208 4.6.4
  unsigned max_void_lookups = 2;  // RFC 7208 4.6.4
  bool rfc7208_fixes = true;      // false: plain libspf2 behaviour (for the suite's comparison)
  std::string receiver = "relayguard";  // %{r} in explanations
};

struct SpfOutcome {
  SpfResult result = SpfResult::kTempError;
  std::string domain;             // the domain whose policy was checked
  std::string comment;            // why: libspf2's comment, or the limit or DNS error hit
  std::uint32_t ttl = 0;          // the outcome may be reused this long (smallest answer TTL)
  bool sender_dependent = false;  // the policy uses the sender's local part (%{l}, %{s})
  unsigned lookups = 0;           // counted DNS terms
  unsigned void_lookups = 0;
  std::string libspf2_result;  // what libspf2 itself said ("invalid" included), for diagnostics
};

SpfOutcome evaluateSpf(Resolver& resolver, const SpfQuery& query, const SpfOptions& options);

}  // namespace relayguard::dns
