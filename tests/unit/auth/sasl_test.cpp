// sasl_test: strict base64 for AUTH exchanges and the PLAIN message split.
#include "core/auth/sasl.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

TEST(SaslTest, Base64RoundTripAndPadding) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0u\0p", 4)}) {
    const auto decoded = decodeBase64(encodeBase64(s));
    ASSERT_TRUE(decoded) << s;
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(encodeBase64("Username:"), "VXNlcm5hbWU6");
  EXPECT_EQ(*decodeBase64("UGFzc3dvcmQ6"), "Password:");
}

TEST(SaslTest, Base64RefusesWhatIsNotStrictBase64) {
  EXPECT_FALSE(decodeBase64("abc"));       // not a multiple of 4
  EXPECT_FALSE(decodeBase64("ab=c"));      // padding in the middle
  EXPECT_FALSE(decodeBase64("a b c d"));   // whitespace
  EXPECT_FALSE(decodeBase64("ab*d"));      // outside the alphabet
  EXPECT_FALSE(decodeBase64("===="));      // padding and nothing else
  EXPECT_FALSE(decodeBase64("a==="));      // three padding characters
  EXPECT_FALSE(decodeBase64("YQ==YQ=="));  // data after padding
}

TEST(SaslTest, PlainMessage) {
  const auto c = parsePlain(std::string("\0alice\0pw", 9));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->authorization_id, "");
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "pw");
  const auto z = parsePlain(std::string("boss\0alice\0", 11));
  ASSERT_TRUE(z);
  EXPECT_EQ(z->authorization_id, "boss");
  EXPECT_EQ(z->password, "");
  EXPECT_FALSE(parsePlain("alice"));
  EXPECT_FALSE(parsePlain(std::string("\0alice", 6)));
  EXPECT_FALSE(parsePlain(std::string("\0\0pw", 4)));  // no user
  EXPECT_FALSE(parsePlain(std::string("\0a\0b\0c", 6)));
}

}  // namespace
}  // namespace relayguard::auth
