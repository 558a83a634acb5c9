// base64_test: strict base64 (the codec of SMTP AUTH exchanges and DKIM keys).
#include "core/util/base64.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

TEST(Base64, RoundTripAndPadding) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0u\0p", 4)}) {
    const auto decoded = decodeBase64(encodeBase64(s));
    ASSERT_TRUE(decoded) << s;
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(encodeBase64("Username:"), "VXNlcm5hbWU6");
  EXPECT_EQ(*decodeBase64("UGFzc3dvcmQ6"), "Password:");
}

TEST(Base64, RefusesWhatIsNotStrictBase64) {
  EXPECT_FALSE(decodeBase64("abc"));       // not a multiple of 4
  EXPECT_FALSE(decodeBase64("ab=c"));      // padding in the middle
  EXPECT_FALSE(decodeBase64("a b c d"));   // whitespace
  EXPECT_FALSE(decodeBase64("ab*d"));      // outside the alphabet
  EXPECT_FALSE(decodeBase64("===="));      // padding and nothing else
  EXPECT_FALSE(decodeBase64("a==="));      // three padding characters
  EXPECT_FALSE(decodeBase64("YQ==YQ=="));  // data after padding
}

TEST(Base64, RefusesOversizedInput) {
  EXPECT_TRUE(decodeBase64(std::string(65536, 'A')));
  EXPECT_FALSE(decodeBase64(std::string(65540, 'A')));
}

}  // namespace
}  // namespace relayguard
