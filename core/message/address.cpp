// address: strict RFC 5321 path parsing (see address.hpp).
#include "core/message/address.hpp"

#include "core/net/ip_address.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr size_t kMaxLocalPart = 64;
constexpr size_t kMaxDomain = 255;
constexpr size_t kMaxPath = 256;

bool isAtext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

// Checks that s is well-formed UTF-8 with no overlong forms or surrogates.
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool hasNonAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

bool validDotString(std::string_view s, bool allow_utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') {
    return false;
  }
  char prev = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '.') {
      if (prev == '.') {
        return false;
      }
    } else if (!isAtext(c) && !(allow_utf8 && c >= 0x80)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

bool validQuotedString(std::string_view s, bool allow_utf8) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') {
    return false;
  }
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      ++i;
      if (i + 1 >= s.size()) {
        return false;
      }
      const auto q = static_cast<unsigned char>(s[i]);
      if (q < 0x20 || q > 0x7e) {
        return false;
      }
    } else if (c == '"') {
      return false;
    } else if (c >= 0x80) {
      if (!allow_utf8) {
        return false;
      }
    } else if (c < 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

bool validAddressLiteral(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') {
    return false;
  }
  std::string_view inner = s.substr(1, s.size() - 2);
  if (istartsWith(inner, "IPv6:")) {
    // IPv6-address-literal only: a bare dotted quad after the tag is not IPv6 syntax.
    const auto v6 = inner.substr(5);
    return v6.find(':') != std::string_view::npos && net::IpAddress::parse(v6).has_value();
  }
  const auto ip = net::IpAddress::parse(inner);
  return ip.has_value() && ip->isV4() && inner.find(':') == std::string_view::npos;
}

Address::ParseResult failure(Address::Error e, std::string detail) {
  Address::ParseResult r;
  r.error = e;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

bool isValidDomain(std::string_view domain, bool allow_utf8) {
  if (domain.empty() || domain.size() > kMaxDomain) {
    return false;
  }
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == std::string_view::npos) {
      end = domain.size();
    }
    const auto label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      const bool ldh =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ldh && !(allow_utf8 && c >= 0x80)) {
        return false;
      }
    }
    start = end + 1;
    if (end == domain.size()) {
      break;
    }
  }
  return true;
}

Address::ParseResult Address::parsePath(std::string_view path, bool allow_null, bool allow_utf8) {
  // RFC 5321 4.5.3.1.3: 256 octets including the punctuation (the angle brackets).
  if (path.size() > kMaxPath) {
    return failure(Error::kTooLong, "path too long");
  }
  if (path.size() < 2 || path.front() != '<' || path.back() != '>') {
    return failure(Error::kSyntax, "address must be enclosed in <>");
  }
  const std::string_view inner = path.substr(1, path.size() - 2);
  if (inner.empty()) {
    if (allow_null) {
      ParseResult r;
      r.address = Address();
      return r;
    }
    return failure(Error::kSyntax, "null address not allowed here");
  }
  if (inner.front() == '@') {
    return failure(Error::kSourceRoute, "source routes are not accepted");
  }
  if (hasNonAscii(inner)) {
    if (!allow_utf8) {
      return failure(Error::kUtf8NotDeclared, "non-ASCII address without SMTPUTF8");
    }
    if (!validUtf8(inner)) {
      return failure(Error::kSyntax, "address is not valid UTF-8");
    }
  }
  if (const auto at = inner.rfind('@'); at != std::string_view::npos && at > kMaxLocalPart) {
    return failure(Error::kTooLong, "local part longer than 64 octets");
  }
  auto mailbox = parseMailbox(inner, allow_utf8);
  if (!mailbox) {
    if (inner.find('@') == std::string_view::npos) {
      return failure(Error::kNoDomain, "address must include a domain");
    }
    return failure(Error::kSyntax, "malformed address");
  }
  const auto& local = mailbox->local();
  const bool quoted = !local.empty() && local.front() == '"';
  if (!quoted && (local.find('%') != std::string::npos || local.find('!') != std::string::npos)) {
    return failure(Error::kRoutingHack, "'%' and '!' routing in addresses is not accepted");
  }
  if (quoted && (local.find('%') != std::string::npos || local.find('!') != std::string::npos ||
                 local.find('@') != std::string::npos)) {
    return failure(Error::kRoutingHack, "routing characters in a quoted local part");
  }
  ParseResult r;
  r.address = std::move(mailbox);
  return r;
}

std::optional<Address> Address::parseMailbox(std::string_view text, bool allow_utf8) {
  const auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= text.size()) {
    return std::nullopt;
  }
  const auto local = text.substr(0, at);
  const auto domain = text.substr(at + 1);
  if (local.size() > kMaxLocalPart || (allow_utf8 && !validUtf8(text))) {
    return std::nullopt;
  }
  const bool local_ok = local.front() == '"' ? validQuotedString(local, allow_utf8)
                                             : validDotString(local, allow_utf8);
  if (!local_ok) {
    return std::nullopt;
  }
  const bool domain_ok =
      domain.front() == '[' ? validAddressLiteral(domain) : isValidDomain(domain, allow_utf8);
  if (!domain_ok) {
    return std::nullopt;
  }
  if (!allow_utf8 && (hasNonAscii(local) || hasNonAscii(domain))) {
    return std::nullopt;
  }
  return Address(std::string(local), std::string(domain));
}

std::string Address::domainLower() const {
  return toLower(domain_);
}

std::string Address::str() const {
  if (isNull()) {
    return {};
  }
  return local_ + "@" + domain_;
}

}  // namespace relayguard
