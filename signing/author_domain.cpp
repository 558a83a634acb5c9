// author_domain: the From: domain of a message (see author_domain.hpp).
#include "signing/author_domain.hpp"

#include <set>

#include "core/message/gmime_ptr.hpp"
#include "core/message/header_scan.hpp"
#include "core/util/strings.hpp"

namespace relayguard::signing {
namespace {

// Adds the domain of every mailbox in `list` (recursing into groups).
void collectDomains(InternetAddressList* list, std::set<std::string>& domains, bool& any) {
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (auto* group = gmime::as<InternetAddressGroup>(a, INTERNET_ADDRESS_TYPE_GROUP)) {
      collectDomains(internet_address_group_get_members(group), domains, any);
      continue;
    }
    auto* mailbox = gmime::as<InternetAddressMailbox>(a, INTERNET_ADDRESS_TYPE_MAILBOX);
    if (mailbox == nullptr) {
      continue;
    }
    const char* addr = internet_address_mailbox_get_addr(mailbox);
    const std::string_view text = addr != nullptr ? addr : "";
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at + 1 >= text.size()) {
      continue;
    }
    std::string domain = domainKey(text.substr(at + 1));
    if (!domain.empty()) {
      any = true;
      domains.insert(std::move(domain));
    }
  }
}

// The header section is capped at [limits] max_header_bytes before any stage runs; the From:
// value alone gets a much smaller bound before it reaches the address parser.
constexpr std::size_t kMaxFromBytes = 16 * 1024;

}  // namespace

AuthorDomain authorDomain(std::string_view message) {
  std::size_t count = 0;
  std::string value;
  forEachHeaderField(message, [&](std::string_view name, std::string_view v) {
    if (iequals(name, "From")) {
      if (++count == 1) {
        value.assign(v);
      }
    }
    return true;
  });
  AuthorDomain out;
  if (count == 0) {
    return out;
  }
  if (count > 1) {
    out.status = AuthorDomain::Status::kSeveralFrom;
    return out;
  }
  if (value.size() > kMaxFromBytes) {
    return out;  // kNoFrom: no real author field is this long; not worth parsing
  }
  gmime::ensureGMimeInitialized();
  gmime::Ptr<InternetAddressList> list(internet_address_list_parse(nullptr, value.c_str()));
  std::set<std::string> domains;
  bool any = false;
  if (list) {
    collectDomains(list.get(), domains, any);
  }
  if (!any) {
    return out;  // kNoFrom: nothing usable to sign for
  }
  if (domains.size() > 1) {
    out.status = AuthorDomain::Status::kMixedDomains;
    return out;
  }
  out.status = AuthorDomain::Status::kOk;
  out.domain = *domains.begin();
  return out;
}

bool domainMatches(std::string_view domain, std::string_view key_domain) {
  if (domain == key_domain) {
    return true;
  }
  return domain.size() > key_domain.size() &&
         domain.substr(domain.size() - key_domain.size()) == key_domain &&
         domain[domain.size() - key_domain.size() - 1] == '.';
}

}  // namespace relayguard::signing
