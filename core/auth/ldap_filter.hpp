// ldap_filter: the user search filter of [auth.ldap], built from a template such as
// "(&(objectClass=user)(sAMAccountName=%u))" where every %u becomes the user name given to AUTH,
// escaped per RFC 4515 by libldap (ldap_bv2escaped_filter_value): '*', '(', ')', '\' and NUL
// become \2a, \28, \29, \5c and \00, so a user name can never change the filter's structure
// ("*" is not a wildcard, ")(" does not open a new condition).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard::auth {

// Why `tmpl` is not a usable template, or nullopt when it is: it must be one parenthesised
// filter with balanced parentheses, hold %u at least once, and use % for nothing else.
std::optional<std::string> userFilterTemplateProblem(std::string_view tmpl);

// `value` escaped for use as an assertion value in a filter (RFC 4515).
std::string escapeFilterValue(std::string_view value);

// The template with every %u replaced by the escaped user name.
std::string userFilter(std::string_view tmpl, std::string_view user);

// True when `dn` parses as an LDAPv3 distinguished name (RFC 4514).
bool validDn(const std::string& dn);

}  // namespace relayguard::auth
