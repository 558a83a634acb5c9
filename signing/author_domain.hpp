// author_domain: the domain of a message's author (its From: header), which decides the keys
// that sign it. RFC 5322 wants exactly one From: field; a message without one, with several, or
// whose From: names mailboxes in different domains has no single author domain, and signing it
// would vouch for a From: that a receiver may display differently: it is not signed.
#pragma once

#include <string>
#include <string_view>

namespace relayguard::signing {

struct AuthorDomain {
  enum class Status {
    kOk,           // domain is set (lower case, no trailing dot)
    kNoFrom,       // no From: field, or one without any mailbox address
    kSeveralFrom,  // more than one From: field
    kMixedDomains  // one From: field naming mailboxes in different domains
  };
  Status status = Status::kNoFrom;
  std::string domain;
};

// Reads the top-level header section of a raw message (CRLF lines). The From: value is parsed
// as an RFC 5322 address list (GMime): display names, comments, quoted local parts, groups and
// encoded words are understood.
AuthorDomain authorDomain(std::string_view message);

// True when `domain` is `key_domain` or a subdomain of it (both lower case).
bool domainMatches(std::string_view domain, std::string_view key_domain);

}  // namespace relayguard::signing
