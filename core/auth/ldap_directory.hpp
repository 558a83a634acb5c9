// ldap_directory: one SMTP AUTH check against an LDAP directory or Active Directory, over
// libldap (OpenLDAP 2.5). Blocking: callers run it on a thread of their own (ldap_authenticator).
//
// Each check opens one connection: TLS first (ldaps://, or StartTLS on ldap:// which must
// succeed: there is no plaintext fallback), the certificate verified against ca_file and the
// URL's host name; bind as the service account (or stay anonymous); search base_dn (subtree) with
// user_filter, %u being the RFC 4515-escaped user name; exactly one entry must match; with
// required_group, the membership is checked by the server (a base search of the group for
// member=<user DN>, or of the user for memberOf=<group DN>); finally a simple bind as the user's
// DN with the password. An empty password is refused before any of this: to LDAP, a bind with a
// DN and no password is an "unauthenticated bind" that succeeds.
//
// Every network operation is bounded by `timeout` (LDAP_OPT_NETWORK_TIMEOUT for the connection,
// LDAP_OPT_TIMEOUT and the search time limit for operations), and by socket_deadlines for the
// TLS handshake, which libldap does not bound at all. libldap's own defaults from
// ldap.conf, ~/.ldaprc and LDAP* environment variables are overridden for everything that matters
// to security (TLS verification, CA, protocol version, referrals: never chased).
#pragma once

#include <memory>
#include <string>

#include "core/auth/socket_deadlines.hpp"
#include "core/config/ldap_auth_config.hpp"

namespace relayguard::auth {

struct DirectoryAnswer {
  enum class Verdict {
    kAccepted,     // the password is right and the user may relay
    kRejected,     // a definite no: unknown user, wrong password, not in the group
    kUnavailable,  // no answer: directory down, timeout, TLS or service-account failure
  };
  Verdict verdict = Verdict::kUnavailable;
  std::string reason;  // for the log; never holds the password
};

class LdapDirectory {
 public:
  explicit LdapDirectory(LdapAuthConfig config);
  DirectoryAnswer check(const std::string& user, const std::string& password) const;
  const LdapAuthConfig& config() const { return config_; }

 private:
  // The check itself; check() adds the directory's URLs to the reason when unavailable.
  DirectoryAnswer ask(const std::string& user, const std::string& password) const;
  LdapAuthConfig config_;
  std::unique_ptr<SocketDeadlines> deadlines_;  // the backstop for libldap's TLS handshake
};

}  // namespace relayguard::auth
