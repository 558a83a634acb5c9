// auth_cache_test: the AUTH result cache answers only for the same user and password, forgets
// after its TTL, never grows past its bound (failures evicted first) and can be turned off.
#include "core/auth/auth_cache.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

using std::chrono::seconds;
using Clock = AuthCache::Clock;

TEST(AuthCacheTest, RemembersSuccessesAndFailuresPerPassword) {
  AuthCache cache(seconds(60));
  const auto t0 = Clock::now();
  EXPECT_EQ(cache.lookup("alice", "right", t0), std::nullopt);
  cache.store("alice", "right", true, t0);
  cache.store("alice", "typo", false, t0);
  EXPECT_EQ(cache.lookup("alice", "right", t0), true);
  EXPECT_EQ(cache.lookup("alice", "typo", t0), false);
  // Another password, or the same password for another user, is not an answer.
  EXPECT_EQ(cache.lookup("alice", "other", t0), std::nullopt);
  EXPECT_EQ(cache.lookup("bob", "right", t0), std::nullopt);
  // The user/password boundary is part of the key.
  cache.store("ab", "c", true, t0);
  EXPECT_EQ(cache.lookup("a", "bc", t0), std::nullopt);
}

TEST(AuthCacheTest, ForgetsAfterTheTtl) {
  AuthCache cache(seconds(60));
  const auto t0 = Clock::now();
  cache.store("alice", "right", true, t0);
  EXPECT_EQ(cache.lookup("alice", "right", t0 + seconds(59)), true);
  EXPECT_EQ(cache.lookup("alice", "right", t0 + seconds(60)), std::nullopt);
  EXPECT_EQ(cache.size(), 0U);
}

TEST(AuthCacheTest, ZeroTtlCachesNothing) {
  AuthCache cache(seconds(0));
  EXPECT_FALSE(cache.enabled());
  cache.store("alice", "right", true);
  EXPECT_EQ(cache.lookup("alice", "right"), std::nullopt);
  EXPECT_EQ(cache.size(), 0U);
}

TEST(AuthCacheTest, IsBoundedAndEvictsFailuresFirst) {
  AuthCache cache(seconds(60), 4);
  const auto t0 = Clock::now();
  cache.store("ok1", "p", true, t0);
  cache.store("ok2", "p", true, t0 + seconds(1));
  cache.store("bad1", "p", false, t0);
  cache.store("bad2", "p", false, t0);
  cache.store("ok3", "p", true, t0 + seconds(2));
  EXPECT_LE(cache.size(), 4U);
  EXPECT_EQ(cache.lookup("bad1", "p", t0), std::nullopt);
  EXPECT_EQ(cache.lookup("ok1", "p", t0), true);
  cache.store("ok4", "p", true, t0 + seconds(3));
  cache.store("ok5", "p", true, t0 + seconds(4));
  EXPECT_EQ(cache.size(), 4U);
  // With only successes left, the one closest to expiring goes.
  EXPECT_EQ(cache.lookup("ok1", "p", t0), std::nullopt);
  EXPECT_EQ(cache.lookup("ok5", "p", t0), true);
}

TEST(AuthCacheTest, ClearForgetsEverything) {
  AuthCache cache(seconds(60));
  cache.store("alice", "right", true);
  cache.clear();
  EXPECT_EQ(cache.lookup("alice", "right"), std::nullopt);
}

}  // namespace
}  // namespace relayguard::auth
