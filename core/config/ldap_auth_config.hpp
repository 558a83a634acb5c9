// ldap_auth_config: the [auth.ldap] section: SMTP AUTH checked against an LDAP directory or
// Active Directory (core/auth/ldap_directory.hpp does the checking).
//
//   [auth.ldap]
//   url = "ldaps://dc1.example.test"          # or ldap://...:389 (StartTLS, always); a list fails
//   over ca_file = "tls/ad-ca.pem"                 # default: the system CA bundle bind_dn =
//   "CN=relay,OU=Services,DC=example,DC=test" bind_password_file = "secrets/ldap.pw"    # chmod 600
//   base_dn = "DC=example,DC=test"
//   user_filter = "(&(objectClass=user)(sAMAccountName=%u))"
//   required_group = "CN=Mail-Relay-Senders,OU=Groups,DC=example,DC=test"
//   group_membership = "member"               # member | memberOf
//   timeout = "5s"  cache_ttl = "60s"  concurrency = 4
//
// Loading checks everything that can be checked without the network: the URLs (libldap's
// parser), the CA file, the password file (private, one line), the filter template (one
// parenthesised filter with %u), the DNs' syntax (ldap_str2dn). Errors are ConfigError at
// file:line:col.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_error.hpp"
#include "core/config/toml_reader.hpp"

namespace relayguard {

enum class LdapGroupMembership {
  kMember,    // the group entry's `member` attribute names the user's DN (AD, groupOfNames)
  kMemberOf,  // the user entry's `memberOf` attribute names the group (AD, slapd's memberof)
};

struct LdapAuthConfig {
  std::vector<std::string> urls;  // all ldaps:// (implicit TLS) or all ldap:// (StartTLS)
  bool start_tls = false;         // true for ldap:// URLs: StartTLS first, never plaintext
  std::filesystem::path ca_file;  // trusted CAs (PEM) for the directory's certificate
  std::string bind_dn;            // the service account; empty: anonymous search
  std::filesystem::path bind_password_file;
  std::string bind_password;  // read at load time: a secret, never log it
  std::string base_dn;
  std::string user_filter = "(&(objectClass=user)(sAMAccountName=%u))";
  std::string required_group;  // a group DN; empty: any user found may authenticate
  LdapGroupMembership group_membership = LdapGroupMembership::kMember;
  std::chrono::seconds timeout{5};     // per network operation (connect, TLS, bind, search)
  std::chrono::seconds cache_ttl{60};  // 0: no cache
  std::size_t concurrency = 4;         // directory checks at once (each its own thread)
  SourcePosition where;

  // The URLs as one space-separated list (what ldap_initialize takes).
  std::string urlList() const;
};

// The system CA bundle (Debian's ca-certificates), used when ca_file is not set.
inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// Reads [auth] (which holds only [auth.ldap] so far); nullopt when there is no [auth.ldap].
std::optional<LdapAuthConfig> loadAuthLdap(TomlReader& top, const std::filesystem::path& base);

}  // namespace relayguard
