// ldap_filter_test: filter templates are checked, and user names are escaped per RFC 4515 so
// that no name can change the search (wildcards, closing parentheses, backslashes, NUL).
#include "core/auth/ldap_filter.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

TEST(LdapFilterTest, GoodTemplatesPass) {
  EXPECT_EQ(userFilterTemplateProblem("(&(objectClass=user)(sAMAccountName=%u))"), std::nullopt);
  EXPECT_EQ(userFilterTemplateProblem("(mail=%u)"), std::nullopt);
  EXPECT_EQ(userFilterTemplateProblem("(|(uid=%u)(mail=%u))"), std::nullopt);
  EXPECT_EQ(userFilterTemplateProblem("(&(cn=a\\29b)(uid=%u))"), std::nullopt);
}

TEST(LdapFilterTest, BadTemplatesAreRefusedWithAReason) {
  for (const char* bad : {"", "uid=%u", "(uid=%u", "(uid=%u))", "(uid=%u)(mail=%u)", "(uid=x)",
                          "(uid=%s)", "(uid=%u%)", "(a=%u))("}) {
    const auto problem = userFilterTemplateProblem(bad);
    ASSERT_TRUE(problem.has_value()) << bad;
    EXPECT_FALSE(problem->empty());
  }
  EXPECT_NE(userFilterTemplateProblem("(uid=x)")->find("%u"), std::string::npos);
}

TEST(LdapFilterTest, EscapesEverySpecialCharacter) {
  EXPECT_EQ(escapeFilterValue("alice"), "alice");
  EXPECT_EQ(escapeFilterValue("*"), "\\2A");
  EXPECT_EQ(escapeFilterValue("a)(uid=*"), "a\\29\\28uid=\\2A");
  EXPECT_EQ(escapeFilterValue("back\\slash"), "back\\5Cslash");
  EXPECT_EQ(escapeFilterValue(std::string("nul\0x", 5)), "nul\\00x");
}

TEST(LdapFilterTest, SubstitutesEveryPlaceholder) {
  EXPECT_EQ(userFilter("(|(uid=%u)(mail=%u))", "bob@example.test"),
            "(|(uid=bob@example.test)(mail=bob@example.test))");
  EXPECT_EQ(userFilter("(&(objectClass=user)(sAMAccountName=%u))", "*)(objectClass=*"),
            "(&(objectClass=user)(sAMAccountName=\\2A\\29\\28objectClass=\\2A))");
}

TEST(LdapFilterTest, DistinguishedNames) {
  EXPECT_TRUE(validDn("DC=example,DC=test"));
  EXPECT_TRUE(validDn("CN=Mail-Relay-Senders,OU=Groups,DC=example,DC=test"));
  EXPECT_TRUE(validDn("cn=Smith\\, John,dc=example,dc=test"));
  EXPECT_FALSE(validDn("not a dn"));
  EXPECT_FALSE(validDn("cn=a,,dc=b"));
}

}  // namespace
}  // namespace relayguard::auth
