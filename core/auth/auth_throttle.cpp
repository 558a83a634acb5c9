// auth_throttle: per-address AUTH failure counting, delays and lockouts (see auth_throttle.hpp).
#include "core/auth/auth_throttle.hpp"

#include <algorithm>

namespace relayguard::auth {

bool AuthThrottle::expired(const Entry& e, Clock::time_point now) const {
  return now >= e.locked_until && now - e.last_failure >= settings_.lockout;
}

bool AuthThrottle::lockedOut(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(ip);
  if (it == entries_.end()) {
    return false;
  }
  if (expired(it->second, now)) {
    entries_.erase(it);
    return false;
  }
  return now < it->second.locked_until;
}

AuthThrottle::Failure AuthThrottle::recordFailure(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(ip);
  if (it != entries_.end() && expired(it->second, now)) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    makeRoom(now);
    it = entries_.emplace(ip, Entry{}).first;
  }
  Entry& e = it->second;
  ++e.failures;
  e.last_failure = now;
  Failure f;
  f.failures = e.failures;
  if (settings_.failures_before_delay > 0 && e.failures >= settings_.failures_before_delay) {
    const auto excess = e.failures - settings_.failures_before_delay + 1;
    f.delay =
        std::min(kMaxDelay, settings_.failure_delay *
                                static_cast<std::int64_t>(std::min<std::size_t>(excess, 1000)));
  }
  if (settings_.lockout_failures > 0 && e.failures >= settings_.lockout_failures &&
      now >= e.locked_until) {
    e.locked_until = now + settings_.lockout;
    f.locked_out = true;
  }
  return f;
}

std::size_t AuthThrottle::tracked() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void AuthThrottle::makeRoom(Clock::time_point now) {
  if (entries_.size() < kMaxTracked) {
    return;
  }
  std::erase_if(entries_, [&](const auto& kv) { return expired(kv.second, now); });
  if (entries_.size() < kMaxTracked) {
    return;
  }
  const auto oldest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.last_failure < b.second.last_failure; });
  entries_.erase(oldest);
}

}  // namespace relayguard::auth
