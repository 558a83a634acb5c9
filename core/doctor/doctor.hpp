// doctor: `relayguard doctor`'s checks of what the outside world needs to see in the DNS for
// our mail to be accepted: for each domain, SPF covers every egress IP, each DKIM key's public
// half is published at its selector, a DMARC record exists and would pass given the SPF and DKIM
// results; for each egress IP, forward-confirmed reverse DNS naming our hostname.
//
// Every check asks the program's resolver (so [dns] servers apply) and libspf2 through
// dns::evaluateSpf; nothing is sent anywhere. A resolver failure (timeout, SERVFAIL) is never
// taken for a missing record: the check is kDnsError ("could not check"), which fails the run
// like a failed check does.
//
// Simplifications, documented in the README: the envelope sender is taken to be
// postmaster@<domain> (so SPF is aligned with the From: domain); the organizational domain is
// approximated without the public suffix list: a DMARC record is looked up at the domain, then
// at its parents down to two labels, and relaxed DKIM alignment accepts a key of the domain or
// of a parent domain (the dkim stage only ever signs with such a key).
//
// runDoctor() blocks (Resolver::queryBlocking, libspf2): call it off the resolver's I/O thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns/resolver.hpp"
#include "signing/dkim_key.hpp"

namespace relayguard::doctor {

enum class Status { kOk, kWarn, kFail, kDnsError };

// "ok", "WARN", "FAIL" (kDnsError is a failure too, so "FAIL").
std::string_view label(Status s);
// "ok", "warn", "fail", "dns-error": the JSON form.
std::string_view toString(Status s);

struct Check {
  std::string kind;     // "config", "spf", "dkim", "dmarc", "ptr"
  std::string subject;  // the domain, "selector._domainkey.domain", or the egress IP
  Status status = Status::kOk;
  std::string detail;              // what was found
  std::vector<std::string> fixes;  // "publish: <zone line>" / "fix: <what to do>"
};

struct Domain {
  std::string name;
  // The keys that sign this domain's mail (DkimStage::keysFor): its own or a parent domain's.
  std::vector<const signing::DkimKey*> signing_keys;
};

struct Input {
  std::string hostname;                 // our EHLO name ([hostname])
  std::vector<std::string> egress_ips;  // the spf stage's egress_ips plus --egress-ip
  std::vector<Domain> domains;
  std::vector<const signing::DkimKey*> keys;  // every configured key: each one's record is checked
};

struct Report {
  std::vector<Check> checks;
  bool ok() const;  // no kFail and no kDnsError
};

Report runDoctor(dns::Resolver& resolver, const Input& input);

// The checklist: one line per check ("ok    spf    example.test: ..."), the fixes of a failed
// or warned check indented under it, and a summary line.
std::string formatText(const Report& report);
// {"ok": bool, "checks": [{"kind","subject","status","detail","fixes":[...]}, ...]}
nlohmann::json toJson(const Report& report);

// DKIM/DMARC tag lists ("v=DKIM1; k=rsa; p=..."): tag name to value, whitespace removed around
// tags and, for p=, inside the value; later duplicates are ignored. Exposed for the tests.
std::vector<std::pair<std::string, std::string>> parseTagList(std::string_view text);

// The reverse-lookup name of an IP ("10.2.0.192.in-addr.arpa", nibbles under "ip6.arpa");
// empty when the text is not an IP address.
std::string reverseName(std::string_view ip);

}  // namespace relayguard::doctor
