// ldap_auth_config_test: the [auth.ldap] section: every key of a full section, the defaults,
// and each mistake as a ConfigError at its file:line:col (URLs, secrets, filter, DNs, ranges,
// unknown keys); a submission listener may rely on [auth.ldap] alone.
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/config/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHead = "hostname = \"h.example\"\n";  // line 1

class LdapAuthConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("tls/ca.pem", readCa());
    const auto pw = dir_.write("ldap.pw", "service secret\n");
    ::chmod(pw.c_str(), 0600);
  }
  static std::string readCa() {
    std::ifstream in("/etc/ssl/certs/ca-certificates.crt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  Config load(std::string_view section) {
    return Config::load(dir_.write("relayguard.toml", std::string(kHead) + std::string(section)));
  }
  // Expects the error at line:col, mentioning `what`.
  void expectError(std::string_view section, unsigned line, unsigned col, std::string_view what) {
    std::string error;
    try {
      load(section);
    } catch (const ConfigError& e) {
      error = e.what();
    }
    const std::string prefix = (dir_.path() / "relayguard.toml").string() + ":" +
                               std::to_string(line) + ":" + std::to_string(col) + ": ";
    EXPECT_TRUE(error.starts_with(prefix)) << "error: " << error << "\nexpected prefix: " << prefix;
    EXPECT_NE(error.find(what), std::string::npos) << "error: " << error << "\nexpected: " << what;
  }

  test::TempDir dir_;
};

TEST_F(LdapAuthConfigTest, AFullSection) {
  const Config c = load(
      "[auth.ldap]\n"
      "url = [\"ldap://dc1.example.test\", \"ldap://dc2.example.test:3389\"]\n"
      "ca_file = \"tls/ca.pem\"\n"
      "bind_dn = \"CN=relay,OU=Services,DC=example,DC=test\"\n"
      "bind_password_file = \"ldap.pw\"\n"
      "base_dn = \"DC=example,DC=test\"\n"
      "user_filter = \"(&(objectClass=user)(mail=%u))\"\n"
      "required_group = \"CN=Mail-Relay-Senders,OU=Groups,DC=example,DC=test\"\n"
      "group_membership = \"memberOf\"\n"
      "timeout = \"3s\"\n"
      "cache_ttl = \"2m\"\n"
      "concurrency = 8\n");
  ASSERT_TRUE(c.auth_ldap.has_value());
  const LdapAuthConfig& l = *c.auth_ldap;
  EXPECT_EQ(l.urlList(), "ldap://dc1.example.test ldap://dc2.example.test:3389");
  EXPECT_TRUE(l.start_tls);
  EXPECT_EQ(l.ca_file, dir_.path() / "tls/ca.pem");
  EXPECT_EQ(l.bind_dn, "CN=relay,OU=Services,DC=example,DC=test");
  EXPECT_EQ(l.bind_password, "service secret");
  EXPECT_EQ(l.base_dn, "DC=example,DC=test");
  EXPECT_EQ(l.user_filter, "(&(objectClass=user)(mail=%u))");
  EXPECT_EQ(l.required_group, "CN=Mail-Relay-Senders,OU=Groups,DC=example,DC=test");
  EXPECT_EQ(l.group_membership, LdapGroupMembership::kMemberOf);
  EXPECT_EQ(l.timeout, std::chrono::seconds(3));
  EXPECT_EQ(l.cache_ttl, std::chrono::seconds(120));
  EXPECT_EQ(l.concurrency, 8U);
}

TEST_F(LdapAuthConfigTest, Defaults) {
  EXPECT_FALSE(load("").auth_ldap.has_value());
  const Config c = load("[auth.ldap]\nurl = \"ldaps://dc1.example.test\"\nbase_dn = \"dc=x\"\n");
  ASSERT_TRUE(c.auth_ldap.has_value());
  const LdapAuthConfig& l = *c.auth_ldap;
  EXPECT_FALSE(l.start_tls);
  EXPECT_EQ(l.ca_file, fs::path(kSystemCaBundle));
  EXPECT_TRUE(l.bind_dn.empty());  // anonymous search
  EXPECT_EQ(l.user_filter, "(&(objectClass=user)(sAMAccountName=%u))");
  EXPECT_TRUE(l.required_group.empty());
  EXPECT_EQ(l.group_membership, LdapGroupMembership::kMember);
  EXPECT_EQ(l.timeout, std::chrono::seconds(5));
  EXPECT_EQ(l.cache_ttl, std::chrono::seconds(60));
  EXPECT_EQ(l.concurrency, 4U);
}

TEST_F(LdapAuthConfigTest, UrlMistakes) {
  expectError("[auth.ldap]\nbase_dn = \"dc=x\"\n", 2, 1, "needs 'url'");
  expectError("[auth.ldap]\nurl = \"ldapi:///var/run/slapd\"\nbase_dn = \"dc=x\"\n", 3, 7,
              "must be ldaps://host (TLS) or ldap://host (StartTLS)");
  expectError("[auth.ldap]\nurl = \"http://dc1\"\nbase_dn = \"dc=x\"\n", 3, 7, "not an LDAP URL");
  expectError("[auth.ldap]\nurl = \"ldaps://dc1/dc=x??sub\"\nbase_dn = \"dc=x\"\n", 3, 7,
              "must be only scheme://host[:port]");
  expectError("[auth.ldap]\nurl = [\"ldaps://dc1\", \"ldap://dc2\"]\nbase_dn = \"dc=x\"\n", 3, 23,
              "same scheme");
  expectError("[auth.ldap]\nurl = []\nbase_dn = \"dc=x\"\n", 3, 7, "at least one URL");
}

TEST_F(LdapAuthConfigTest, ServiceAccountMistakes) {
  const std::string url = "[auth.ldap]\nurl = \"ldaps://dc1\"\nbase_dn = \"dc=x\"\n";  // 2-4
  expectError(url + "bind_dn = \"cn=relay,dc=x\"\n", 5, 11,
              "bind_dn and bind_password_file go together");
  expectError(url + "bind_password_file = \"ldap.pw\"\n", 5, 22, "go together");
  const auto open = dir_.write("open.pw", "secret\n");
  ::chmod(open.c_str(), 0644);
  expectError(url + "bind_dn = \"cn=relay,dc=x\"\nbind_password_file = \"open.pw\"\n", 6, 22,
              "accessible by group or others");
  expectError(url + "bind_dn = \"cn=relay,dc=x\"\nbind_password_file = \"missing.pw\"\n", 6, 22,
              "cannot read");
  const auto two = dir_.write("two.pw", "line one\nline two\n");
  ::chmod(two.c_str(), 0600);
  std::string error;
  try {
    load(url + "bind_dn = \"cn=relay,dc=x\"\nbind_password_file = \"two.pw\"\n");
  } catch (const ConfigError& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("must hold one line"), std::string::npos) << error;
  EXPECT_EQ(error.find("line one"), std::string::npos) << "the secret was echoed: " << error;
  expectError(url + "bind_dn = \"not a dn\"\nbind_password_file = \"ldap.pw\"\n", 5, 11,
              "not a distinguished name");
  expectError(url + "ca_file = \"ldap.pw\"\n", 5, 11, "holds no PEM certificate");
}

TEST_F(LdapAuthConfigTest, SearchAndLimitMistakes) {
  const std::string url = "[auth.ldap]\nurl = \"ldaps://dc1\"\n";  // lines 2-3
  expectError(url, 2, 1, "base_dn");
  expectError(url + "base_dn = \"dc=x\"\nuser_filter = \"(uid=alice)\"\n", 5, 15, "%u");
  expectError(url + "base_dn = \"dc=x\"\nuser_filter = \"uid=%u\"\n", 5, 15, "parentheses");
  expectError(url + "base_dn = \"dc=x\"\nrequired_group = \"Mail-Relay-Senders\"\n", 5, 18,
              "not a distinguished name");
  expectError(url + "base_dn = \"dc=x\"\ngroup_membership = \"member\"\n", 5, 20,
              "has no effect without required_group");
  expectError(url +
                  "base_dn = \"dc=x\"\nrequired_group = \"cn=g,dc=x\"\n"
                  "group_membership = \"nested\"\n",
              6, 20, "group_membership");
  expectError(url + "base_dn = \"dc=x\"\ntimeout = \"5m\"\n", 5, 11, "between 1s and 60s");
  expectError(url + "base_dn = \"dc=x\"\ncache_ttl = \"2h\"\n", 5, 13, "at most 1h");
  expectError(url + "base_dn = \"dc=x\"\nconcurrency = 0\n", 5, 15, "concurrency");
  expectError(url + "base_dn = \"dc=x\"\nbind_passwd = \"x\"\n", 5, 1, "bind_passwd");
  expectError("[auth.radius]\nserver = \"x\"\n", 2, 7, "unknown key 'radius'");
}

TEST_F(LdapAuthConfigTest, ASubmissionListenerMayUseTheDirectoryAlone) {
  dir_.write("c.pem", "");
  const Config c = load(
      "[[listener]]\naddress = \"127.0.0.1:587\"\nmode = \"submission\"\n"
      "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n"
      "[auth.ldap]\nurl = \"ldaps://dc1\"\nbase_dn = \"dc=x\"\n");
  EXPECT_TRUE(c.access.users_file.empty());
  EXPECT_TRUE(c.auth_ldap.has_value());
}

}  // namespace
}  // namespace relayguard
