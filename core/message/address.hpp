// address: envelope addresses (RFC 5321 paths) as the relay sees them in MAIL and RCPT.
//
// Trust: the text comes straight from the network. Parsing is strict: source routes
// (<@a,@b:user@c>) and the %- and !-hacks, which once made relays forward mail to places the
// operator never allowed, are refused rather than interpreted. UTF-8 is accepted only when the
// client declared SMTPUTF8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard {

struct AddressParseResult;

class Address {
 public:
  enum class Error { kSyntax, kSourceRoute, kRoutingHack, kUtf8NotDeclared, kTooLong, kNoDomain };
  using ParseResult = AddressParseResult;

  // Parses "<local@domain>"; "<>" (the null reverse-path) only when allow_null.
  static ParseResult parsePath(std::string_view path, bool allow_null, bool allow_utf8);
  // Parses a bare "local@domain" (config, CLI --to).
  static std::optional<Address> parseMailbox(std::string_view text, bool allow_utf8 = true);

  static Address null() { return Address(); }
  bool isNull() const { return domain_.empty(); }
  const std::string& local() const { return local_; }
  const std::string& domain() const { return domain_; }
  // The routing key: the domain in lower case (address literals keep their brackets).
  std::string domainLower() const;
  // "local@domain", or "" for the null address.
  std::string str() const;
  // "<local@domain>" or "<>".
  std::string bracketed() const { return "<" + str() + ">"; }
  bool operator==(const Address&) const = default;

 private:
  Address() = default;
  Address(std::string local, std::string domain)
      : local_(std::move(local)), domain_(std::move(domain)) {}
  std::string local_;
  std::string domain_;
};

struct AddressParseResult {
  std::optional<Address> address;
  Address::Error error = Address::Error::kSyntax;
  std::string detail;  // what is wrong, for the SMTP reply text
};

// True when the text is a syntactically valid domain (LDH labels, or UTF-8 labels if allowed).
bool isValidDomain(std::string_view domain, bool allow_utf8);

}  // namespace relayguard
