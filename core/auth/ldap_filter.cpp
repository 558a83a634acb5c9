// ldap_filter: filter templates and RFC 4515 escaping over libldap (see ldap_filter.hpp).
#include "core/auth/ldap_filter.hpp"

#include <stdexcept>

#include <ldap.h>

namespace relayguard::auth {

std::optional<std::string> userFilterTemplateProblem(std::string_view tmpl) {
  if (tmpl.size() < 2 || tmpl.front() != '(' || tmpl.back() != ')') {
    return "must be one filter in parentheses, e.g. (&(objectClass=user)(sAMAccountName=%u))";
  }
  int depth = 0;
  bool has_user = false;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if (c == '\\') {
      ++i;  // an escaped character (\28) is never structure
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) {
        return "has a ')' without its '('";
      }
      if (depth == 0 && i + 1 != tmpl.size()) {
        return "must be one filter in parentheses (wrap several in (&...))";
      }
    } else if (c == '%') {
      if (i + 1 >= tmpl.size() || tmpl[i + 1] != 'u') {
        return "'%' may only appear as %u (the user name); write a literal % as \\25";
      }
      has_user = true;
      ++i;
    }
  }
  if (depth != 0) {
    return "has unbalanced parentheses";
  }
  if (!has_user) {
    return "must contain %u (where the user name goes)";
  }
  return std::nullopt;
}

std::string escapeFilterValue(std::string_view value) {
  berval in{};
  in.bv_len = value.size();
  in.bv_val = const_cast<char*>(value.data());
  berval out{};
  if (ldap_bv2escaped_filter_value(&in, &out) != 0) {
    throw std::bad_alloc();
  }
  std::string escaped(out.bv_val, out.bv_len);
  ber_memfree(out.bv_val);
  return escaped;
}

std::string userFilter(std::string_view tmpl, std::string_view user) {
  const std::string escaped = escapeFilterValue(user);
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '%' && i + 1 < tmpl.size() && tmpl[i + 1] == 'u') {
      out += escaped;
      ++i;
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

bool validDn(const std::string& dn) {
  LDAPDN parsed = nullptr;
  const int rc = ldap_str2dn(dn.c_str(), &parsed, LDAP_DN_FORMAT_LDAPV3);
  ldap_dnfree(parsed);
  return rc == LDAP_SUCCESS;
}

}  // namespace relayguard::auth
