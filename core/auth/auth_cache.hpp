// auth_cache: a short-lived memory of directory answers for SMTP AUTH, so that a busy
// application does not cost one LDAP round trip (and one TLS handshake) per connection, and a
// device retrying a stale password does not hammer the directory (where each failed bind may
// count towards the account's lockout).
//
// Entries are keyed by an HMAC-SHA-256 of (user, password) under a random key made at start-up,
// so neither the password nor an unsalted hash of it is kept. A success and a definite failure
// (wrong password, unknown user, not in the group) are remembered for `ttl`; "directory
// unavailable" is never cached. Because the password is part of the key, a cached failure never
// blocks the right password (a user who fixes a typo gets a fresh check at once), and a cached
// success only ever answers for the very password that succeeded: a password changed or an
// account disabled in the directory takes effect within `ttl`. SIGHUP clears it.
//
// Thread-safe and bounded: at most kMaxEntries; when full, expired entries go first, then
// failures, then the entry closest to expiring.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::auth {

class AuthCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxEntries = 10000;

  explicit AuthCache(std::chrono::seconds ttl, std::size_t max_entries = kMaxEntries);
  AuthCache(const AuthCache&) = delete;
  AuthCache& operator=(const AuthCache&) = delete;
  ~AuthCache();

  bool enabled() const { return ttl_.count() > 0; }
  // The remembered answer for this user and password (true: accepted), if still fresh.
  std::optional<bool> lookup(std::string_view user, std::string_view password,
                             Clock::time_point now = Clock::now());
  void store(std::string_view user, std::string_view password, bool accepted,
             Clock::time_point now = Clock::now());
  void clear();
  std::size_t size() const;

 private:
  using Key = std::array<unsigned char, 32>;
  struct Entry {
    bool accepted = false;
    Clock::time_point expires{};
  };
  Key keyFor(std::string_view user, std::string_view password) const;
  void makeRoom(Clock::time_point now);

  std::chrono::seconds ttl_;
  std::size_t max_entries_;
  std::array<unsigned char, 32> secret_{};
  mutable std::mutex mutex_;
  std::map<Key, Entry> entries_;
};

}  // namespace relayguard::auth
