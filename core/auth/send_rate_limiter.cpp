// send_rate_limiter: sliding-window message counts per user (see send_rate_limiter.hpp).
#include "core/auth/send_rate_limiter.hpp"

namespace relayguard::auth {

bool SendRateLimiter::tryAcquire(const std::string& user, Clock::time_point now) {
  if (per_minute_ == 0) {
    return true;
  }
  std::lock_guard lock(mutex_);
  forgetIdle(now);
  auto& times = sent_[user];
  while (!times.empty() && now - times.front() >= kWindow) {
    times.pop_front();
  }
  if (times.size() >= per_minute_) {
    return false;
  }
  times.push_back(now);
  return true;
}

void SendRateLimiter::forgetIdle(Clock::time_point now) {
  if (now - last_sweep_ < kWindow) {
    return;
  }
  last_sweep_ = now;
  std::erase_if(sent_, [&](const auto& kv) {
    return kv.second.empty() || now - kv.second.back() >= kWindow;
  });
}

}  // namespace relayguard::auth
