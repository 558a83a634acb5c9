// auth_throttle_test: per-address failure counting: growing delays after the threshold, the
// lockout and its end, independent addresses, and the bound on tracked addresses.
#include "core/auth/auth_throttle.hpp"

#include <gtest/gtest.h>

namespace relayguard::auth {
namespace {

using namespace std::chrono_literals;

ThrottleSettings settings() {
  ThrottleSettings s;
  s.failures_before_delay = 2;
  s.failure_delay = 1000ms;
  s.lockout_failures = 4;
  s.lockout = 600s;
  return s;
}

TEST(AuthThrottleTest, DelaysGrowThenLockout) {
  AuthThrottle t(settings());
  const auto now = AuthThrottle::Clock::now();
  EXPECT_EQ(t.recordFailure("192.0.2.1", now).delay, 0ms);
  EXPECT_EQ(t.recordFailure("192.0.2.1", now).delay, 1000ms);
  EXPECT_EQ(t.recordFailure("192.0.2.1", now).delay, 2000ms);
  EXPECT_FALSE(t.lockedOut("192.0.2.1", now));
  const auto fourth = t.recordFailure("192.0.2.1", now);
  EXPECT_TRUE(fourth.locked_out);
  EXPECT_EQ(fourth.failures, 4U);
  EXPECT_TRUE(t.lockedOut("192.0.2.1", now + 599s));
  EXPECT_FALSE(t.lockedOut("192.0.2.2", now));
  // After the lockout the count starts over.
  EXPECT_FALSE(t.lockedOut("192.0.2.1", now + 600s));
  EXPECT_EQ(t.recordFailure("192.0.2.1", now + 601s).failures, 1U);
}

TEST(AuthThrottleTest, DelayIsCapped) {
  ThrottleSettings s = settings();
  s.lockout_failures = 0;  // never
  AuthThrottle t(s);
  const auto now = AuthThrottle::Clock::now();
  AuthThrottle::Failure f;
  for (int i = 0; i < 100; ++i) {
    f = t.recordFailure("198.51.100.7", now);
  }
  EXPECT_EQ(f.delay, AuthThrottle::kMaxDelay);
  EXPECT_FALSE(t.lockedOut("198.51.100.7", now));
}

TEST(AuthThrottleTest, OldFailuresAreForgotten) {
  AuthThrottle t(settings());
  const auto now = AuthThrottle::Clock::now();
  t.recordFailure("192.0.2.9", now);
  t.recordFailure("192.0.2.9", now);
  EXPECT_EQ(t.recordFailure("192.0.2.9", now + 601s).failures, 1U);
}

TEST(AuthThrottleTest, TrackedAddressesAreBounded) {
  AuthThrottle t(settings());
  const auto now = AuthThrottle::Clock::now();
  for (std::size_t i = 0; i < AuthThrottle::kMaxTracked + 10; ++i) {
    t.recordFailure("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                        std::to_string(i % 256),
                    now + std::chrono::milliseconds(i));
  }
  EXPECT_EQ(t.tracked(), AuthThrottle::kMaxTracked);
}

}  // namespace
}  // namespace relayguard::auth
