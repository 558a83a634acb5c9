// password_hash_test: argon2id hashes verify only their own password, are salted (two hashes of
// one password differ), carry their parameters as a PHC string, and malformed strings never
// verify.
#include "core/auth/password_hash.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

TEST(PasswordHashTest, VerifiesOnlyTheRightPassword) {
  const std::string hash = hashPassword("s3cret pass");
  EXPECT_TRUE(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << hash;
  EXPECT_TRUE(isPasswordHash(hash));
  EXPECT_TRUE(verifyPassword(hash, "s3cret pass"));
  EXPECT_FALSE(verifyPassword(hash, "s3cret pasS"));
  EXPECT_FALSE(verifyPassword(hash, ""));
  EXPECT_FALSE(verifyPassword(hash, std::string("s3cret pass\0x", 13)));
}

TEST(PasswordHashTest, SaltedSoEqualPasswordsHashDifferently) {
  EXPECT_NE(hashPassword("same"), hashPassword("same"));
}

TEST(PasswordHashTest, ParametersTravelWithTheHash) {
  const std::string cheap = hashPassword("pw", HashParameters{1024, 1, 1});
  EXPECT_TRUE(cheap.starts_with("$argon2id$v=19$m=1024,t=1,p=1$")) << cheap;
  EXPECT_TRUE(verifyPassword(cheap, "pw"));
}

TEST(PasswordHashTest, MalformedHashesNeverVerify) {
  EXPECT_FALSE(verifyPassword("", ""));
  EXPECT_FALSE(verifyPassword("plaintext", "plaintext"));
  EXPECT_FALSE(verifyPassword("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
  EXPECT_FALSE(verifyPassword("$argon2id$v=19$m=1024,t=1,p=1$!!$!!", "x"));
  EXPECT_FALSE(isPasswordHash("$argon2id$v=19$m=1024 t=1"));
}

}  // namespace
}  // namespace relayguard::auth
