// test_slapd: a real OpenLDAP slapd (Debian's slapd package) for tests, on two free loopback
// ports (ldap:// with StartTLS, and ldaps://), with a throwaway slapd.conf and mdb database in
// the test's folder and a small directory loaded with slapadd. It runs as the current user,
// starts in well under a second, and is stopped with the object.
//
// The directory looks like a small Active Directory: users are objectClass "user" with a
// sAMAccountName (a two-line test schema gives slapd both names), groups are groupOfNames with
// `member`, and slapd's memberof overlay keeps `memberOf` on the users. Anonymous users may only
// bind; the service account (kServiceDn) may read everything but passwords. As on an Active
// Directory that is not hardened, a DN with an empty password binds (an unauthenticated bind).
//
//   alice  "alice's secret"  in Mail-Relay-Senders   mail alice@example.test
//   bob    "bob's secret"    not in the group
//   twin   "twin secret"     two entries share this sAMAccountName
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/config/ldap_auth_config.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::test {

class TestSlapd {
 public:
  static constexpr const char* kBaseDn = "dc=example,dc=test";
  static constexpr const char* kServiceDn = "cn=relay,ou=services,dc=example,dc=test";
  static constexpr const char* kServicePassword = "relay service secret";
  static constexpr const char* kGroupDn = "cn=Mail-Relay-Senders,ou=groups,dc=example,dc=test";
  static constexpr const char* kUserFilter = "(&(objectClass=user)(sAMAccountName=%u))";

  // Writes the config and loads the directory into dir (created if needed); TLS with `tls`.
  TestSlapd(std::filesystem::path dir, const TestCertificate& tls);
  ~TestSlapd();
  TestSlapd(const TestSlapd&) = delete;
  TestSlapd& operator=(const TestSlapd&) = delete;

  // Starts slapd (again, after stop(), on the same ports). Throws std::runtime_error with its
  // log when it does not listen within 5 s.
  void start();
  void stop();

  std::string ldapUrl() const { return "ldap://127.0.0.1:" + std::to_string(ldap_port_); }
  std::string ldapsUrl() const { return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_); }
  // An [auth.ldap] for this directory: ldaps:// or ldap:// (StartTLS), the service account,
  // kUserFilter, required_group = kGroupDn, timeout 2s.
  LdapAuthConfig authConfig(bool ldaps, const std::filesystem::path& ca_file) const;
  // The user's DN: "cn=<uid>,ou=people,dc=example,dc=test".
  static std::string userDn(const std::string& uid);
  // Changes a user's password in the running directory (ldapmodify as the directory's root).
  void setPassword(const std::string& uid, const std::string& password);

 private:
  std::filesystem::path dir_;
  std::uint16_t ldap_port_ = 0;
  std::uint16_t ldaps_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// Creates dir (and its parents) if needed and returns it.
std::filesystem::path madeDirectory(std::filesystem::path dir);

// A test CA and a started TestSlapd with a certificate from it for localhost and 127.0.0.1, in
// dir/pki and dir/slapd.
struct TestDirectoryServer {
  explicit TestDirectoryServer(const std::filesystem::path& dir);
  LdapAuthConfig authConfig(bool ldaps = true) const {
    return slapd.authConfig(ldaps, ca.caFile());
  }
  TestCa ca;
  TestSlapd slapd;
};

}  // namespace relayguard::test
