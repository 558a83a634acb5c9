// auth_throttle: brute-force protection for SMTP AUTH, per client IP address.
//
// Every failed AUTH from an address is counted. From the `failures_before_delay`-th failure on,
// the 535 reply to each further failure is held back, by `failure_delay` more per failure (at
// most kMaxDelay). At `lockout_failures` failures the address is locked out for `lockout`: its
// AUTH commands are refused at once (454 4.7.0) without checking any password, so a locked-out
// attacker costs no hashing time either. A count is forgotten `lockout` after its last failure;
// a success does not reset it (one known password must not buy unlimited guesses at others).
//
// Thread-safe. Memory is bounded: at most kMaxTracked addresses are tracked; when full, expired
// entries are dropped, then the least recently failing one.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace relayguard::auth {

struct ThrottleSettings {
  std::size_t failures_before_delay = 3;
  std::chrono::milliseconds failure_delay{1000};
  std::size_t lockout_failures = 10;  // 0: never lock out
  std::chrono::seconds lockout{15 * 60};
};

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxTracked = 65536;
  static constexpr std::chrono::milliseconds kMaxDelay{30000};

  explicit AuthThrottle(ThrottleSettings settings) : settings_(settings) {}

  // True while `ip` is locked out.
  bool lockedOut(const std::string& ip, Clock::time_point now = Clock::now());
  struct Failure {
    std::size_t failures = 0;            // failures counted for this address, this one included
    std::chrono::milliseconds delay{0};  // how long to hold back the failure reply
    bool locked_out = false;             // this failure started a lockout
  };
  Failure recordFailure(const std::string& ip, Clock::time_point now = Clock::now());
  std::size_t tracked() const;

 private:
  struct Entry {
    std::size_t failures = 0;
    Clock::time_point last_failure{};
    Clock::time_point locked_until{};
  };
  bool expired(const Entry& e, Clock::time_point now) const;
  void makeRoom(Clock::time_point now);

  ThrottleSettings settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace relayguard::auth
