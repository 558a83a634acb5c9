// send_rate_limiter_test: the per-user one-minute sliding window.
#include "core/auth/send_rate_limiter.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

using namespace std::chrono_literals;

TEST(SendRateLimiterTest, SlidingMinutePerUser) {
  SendRateLimiter limit(2);
  const auto t0 = SendRateLimiter::Clock::now();
  EXPECT_TRUE(limit.tryAcquire("alice", t0));
  EXPECT_TRUE(limit.tryAcquire("alice", t0 + 10s));
  EXPECT_FALSE(limit.tryAcquire("alice", t0 + 20s));
  EXPECT_TRUE(limit.tryAcquire("bob", t0 + 20s));
  EXPECT_TRUE(limit.tryAcquire("alice", t0 + 60s));   // the first left the window
  EXPECT_FALSE(limit.tryAcquire("alice", t0 + 65s));  // the second is still in it
}

TEST(SendRateLimiterTest, ZeroIsUnlimited) {
  SendRateLimiter limit(0);
  const auto t0 = SendRateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limit.tryAcquire("alice", t0));
  }
}

}  // namespace
}  // namespace relayguard::auth
