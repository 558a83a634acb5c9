// ldap_directory_test: AUTH checks against a real slapd (tests/support/test_slapd.hpp) over
// ldaps:// and StartTLS: the right password, a wrong one, an unknown user, a user outside the
// required group (by member and by memberOf), an empty password (which the test directory would
// take as an unauthenticated bind), filter injection, an ambiguous name, and every way the
// directory can fail to answer (down, silent, wrong service password, untrusted or misnamed
// certificate), which must be "unavailable", never "rejected" or "accepted".
#include "core/auth/ldap_directory.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/silent_listener.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certificates.hpp"
#include "tests/support/test_slapd.hpp"

namespace relayguard::auth {
namespace {

using Verdict = DirectoryAnswer::Verdict;
using test::TestSlapd;

class LdapDirectoryTest : public ::testing::Test {
 protected:
  LdapAuthConfig config(bool ldaps = true) const { return server_.authConfig(ldaps); }
  static DirectoryAnswer check(const LdapAuthConfig& c, const std::string& user,
                               const std::string& password) {
    return LdapDirectory(c).check(user, password);
  }

  test::TempDir dir_;
  test::TestDirectoryServer server_{dir_.path()};
  TestSlapd* slapd_ = &server_.slapd;
};

TEST_F(LdapDirectoryTest, AcceptsTheRightPasswordOverLdapsAndStartTls) {
  for (const bool ldaps : {true, false}) {
    const auto a = check(config(ldaps), "alice", "alice's secret");
    EXPECT_EQ(a.verdict, Verdict::kAccepted) << (ldaps ? "ldaps: " : "starttls: ") << a.reason;
  }
  // The search is the directory's: sAMAccountName matches without regard to case.
  EXPECT_EQ(check(config(), "ALICE", "alice's secret").verdict, Verdict::kAccepted);
}

TEST_F(LdapDirectoryTest, RefusesAWrongPasswordAndAnUnknownUser) {
  const auto wrong = check(config(), "alice", "alice's secreT");
  EXPECT_EQ(wrong.verdict, Verdict::kRejected);
  EXPECT_NE(wrong.reason.find("Invalid credentials"), std::string::npos) << wrong.reason;
  const auto unknown = check(config(), "mallory", "alice's secret");
  EXPECT_EQ(unknown.verdict, Verdict::kRejected);
  EXPECT_NE(unknown.reason.find("no such user"), std::string::npos) << unknown.reason;
}

TEST_F(LdapDirectoryTest, RequiredGroupByMemberAndByMemberOf) {
  LdapAuthConfig c = config();
  for (const auto how : {LdapGroupMembership::kMember, LdapGroupMembership::kMemberOf}) {
    c.group_membership = how;
    const auto bob = check(c, "bob", "bob's secret");
    EXPECT_EQ(bob.verdict, Verdict::kRejected);
    EXPECT_NE(bob.reason.find("not a member"), std::string::npos) << bob.reason;
    EXPECT_EQ(check(c, "alice", "alice's secret").verdict, Verdict::kAccepted);
  }
  c.required_group.clear();
  EXPECT_EQ(check(c, "bob", "bob's secret").verdict, Verdict::kAccepted);
  c.group_membership = LdapGroupMembership::kMember;
  c.required_group = "cn=No-Such-Group,ou=groups,dc=example,dc=test";
  EXPECT_EQ(check(c, "alice", "alice's secret").verdict, Verdict::kUnavailable);
}

TEST_F(LdapDirectoryTest, AnEmptyPasswordIsRefusedBeforeItCanBeAnUnauthenticatedBind) {
  const auto a = check(config(), "alice", "");
  EXPECT_EQ(a.verdict, Verdict::kRejected);
  EXPECT_EQ(a.reason, "empty password");
}

TEST_F(LdapDirectoryTest, UserNamesCannotInjectIntoTheFilter) {
  const LdapAuthConfig c = config();
  for (const std::string user : {"*", "al*", "*)(sAMAccountName=*", "alice)(|(objectClass=*",
                                 "x)(|(sAMAccountName=alice)", "\\2a"}) {
    const auto a = check(c, user, "alice's secret");
    EXPECT_EQ(a.verdict, Verdict::kRejected) << user << ": " << a.reason;
    EXPECT_NE(a.reason.find("no such user"), std::string::npos) << user << ": " << a.reason;
  }
  EXPECT_EQ(check(c, std::string("alice\0", 6), "alice's secret").verdict, Verdict::kRejected);
}

TEST_F(LdapDirectoryTest, ANameMatchingTwoEntriesIsRefused) {
  const auto a = check(config(), "twin", "twin secret");
  EXPECT_EQ(a.verdict, Verdict::kRejected);
  EXPECT_NE(a.reason.find("more than one"), std::string::npos) << a.reason;
}

TEST_F(LdapDirectoryTest, DirectoryDownIsUnavailable) {
  slapd_->stop();
  for (const bool ldaps : {true, false}) {
    const auto a = check(config(ldaps), "alice", "alice's secret");
    EXPECT_EQ(a.verdict, Verdict::kUnavailable) << a.reason;
    EXPECT_NE(a.reason.find("127.0.0.1"), std::string::npos) << a.reason;
  }
}

TEST_F(LdapDirectoryTest, AWrongServicePasswordIsUnavailableNotRejected) {
  LdapAuthConfig c = config();
  c.bind_password = "not the service password";
  const auto a = check(c, "alice", "alice's secret");
  EXPECT_EQ(a.verdict, Verdict::kUnavailable);
  EXPECT_NE(a.reason.find(TestSlapd::kServiceDn), std::string::npos) << a.reason;
  EXPECT_EQ(a.reason.find(TestSlapd::kServicePassword), std::string::npos);
}

TEST_F(LdapDirectoryTest, AnUntrustedCertificateIsUnavailableWithoutPlaintextFallback) {
  const test::TestCa other(test::madeDirectory(dir_.path() / "other-pki"));
  for (const bool ldaps : {true, false}) {
    LdapAuthConfig c = config(ldaps);
    c.ca_file = other.caFile();
    const auto a = check(c, "alice", "alice's secret");
    EXPECT_EQ(a.verdict, Verdict::kUnavailable) << (ldaps ? "ldaps: " : "starttls: ") << a.reason;
  }
}

TEST_F(LdapDirectoryTest, ACertificateForAnotherNameIsUnavailable) {
  slapd_->stop();
  TestSlapd misnamed(dir_.path() / "misnamed", server_.ca.issue("misnamed", {"ldap.other.test"}));
  misnamed.start();
  const LdapAuthConfig c = misnamed.authConfig(true, server_.ca.caFile());
  const auto a = check(c, "alice", "alice's secret");
  EXPECT_EQ(a.verdict, Verdict::kUnavailable) << a.reason;
}

TEST_F(LdapDirectoryTest, ASilentServerTimesOut) {
  const test::SilentListener silent;  // connections are taken, never answered
  const std::string port = std::to_string(silent.port());
  for (const bool ldaps : {true, false}) {
    LdapAuthConfig c = config(ldaps);
    c.urls = {(ldaps ? "ldaps://127.0.0.1:" : "ldap://127.0.0.1:") + port};
    c.timeout = std::chrono::seconds(1);
    const auto start = std::chrono::steady_clock::now();
    const auto a = check(c, "alice", "alice's secret");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(a.verdict, Verdict::kUnavailable) << a.reason;
    EXPECT_LT(took, std::chrono::seconds(4)) << (ldaps ? "ldaps" : "starttls");
  }
}

TEST_F(LdapDirectoryTest, FailsOverToTheNextUrl) {
  LdapAuthConfig c = config();
  c.urls = {"ldaps://127.0.0.1:" + std::to_string(test::freeLoopbackPort()), c.urls[0]};
  const auto a = check(c, "alice", "alice's secret");
  EXPECT_EQ(a.verdict, Verdict::kAccepted) << a.reason;
}

}  // namespace
}  // namespace relayguard::auth
