// send_rate_limiter: the per-user sending rate limit ([access] user_messages_per_minute).
//
// A sliding one-minute window per authenticated user: each MAIL FROM of an authenticated session
// takes one slot; when the user already started `per_minute` transactions in the last 60
// seconds, the next is refused (the session answers 450 4.7.1) until the oldest leaves the
// window. Thread-safe; users with no transaction in the last minute are forgotten, so memory
// follows the number of active users.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace relayguard::auth {

class SendRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kWindow{60};

  // 0: unlimited.
  explicit SendRateLimiter(std::size_t per_minute) : per_minute_(per_minute) {}

  // Takes a slot for `user`; false when the user is over the limit.
  bool tryAcquire(const std::string& user, Clock::time_point now = Clock::now());

 private:
  void forgetIdle(Clock::time_point now);

  std::size_t per_minute_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> sent_;
  Clock::time_point last_sweep_{};
};

}  // namespace relayguard::auth
