// sasl_test: the PLAIN message split.
#include "core/auth/sasl.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

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
