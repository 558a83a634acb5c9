// auth_cache: HMAC-keyed, bounded, short-lived AUTH results (see auth_cache.hpp).
#include "core/auth/auth_cache.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace relayguard::auth {

AuthCache::AuthCache(std::chrono::seconds ttl, std::size_t max_entries)
    : ttl_(ttl), max_entries_(std::max<std::size_t>(max_entries, 1)) {
  if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1) {
    throw std::runtime_error("cannot make the AUTH cache key: no random bytes");
  }
}

AuthCache::~AuthCache() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

AuthCache::Key AuthCache::keyFor(std::string_view user, std::string_view password) const {
  // The user's length first, so that ("ab", "c") and ("a", "bc") never share a key.
  std::string message = std::to_string(user.size()) + ":";
  message.append(user);
  message.append(password);
  Key key{};
  unsigned int size = 0;
  const unsigned char* mac = HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), key.data(), &size);
  OPENSSL_cleanse(message.data(), message.size());
  if (mac == nullptr || size != key.size()) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return key;
}

std::optional<bool> AuthCache::lookup(std::string_view user, std::string_view password,
                                      Clock::time_point now) {
  if (!enabled()) {
    return std::nullopt;
  }
  const Key key = keyFor(user, password);
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.accepted;
}

void AuthCache::store(std::string_view user, std::string_view password, bool accepted,
                      Clock::time_point now) {
  if (!enabled()) {
    return;
  }
  const Key key = keyFor(user, password);
  std::lock_guard lock(mutex_);
  if (!entries_.contains(key) && entries_.size() >= max_entries_) {
    makeRoom(now);
  }
  entries_[key] = Entry{accepted, now + ttl_};
}

void AuthCache::makeRoom(Clock::time_point now) {
  std::erase_if(entries_, [now](const auto& e) { return e.second.expires <= now; });
  if (entries_.size() < max_entries_) {
    return;
  }
  // Failures are cheap to forget: a miss only costs one more directory check.
  std::erase_if(entries_, [](const auto& e) { return !e.second.accepted; });
  if (entries_.size() < max_entries_) {
    return;
  }
  const auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
    return a.second.expires < b.second.expires;
  });
  entries_.erase(oldest);
}

void AuthCache::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

std::size_t AuthCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace relayguard::auth
