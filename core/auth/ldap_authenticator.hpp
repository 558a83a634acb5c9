// ldap_authenticator: SMTP AUTH against [auth.ldap] for the sessions: the result cache
// (auth_cache.hpp) in front of the directory (ldap_directory.hpp).
//
// Directory checks are blocking network calls, so they run on a thread pool of their own with
// `concurrency` threads: never on an I/O thread, and never on the shared blocking pool, where a
// directory timing out would hold up message filtering and fsyncs. At most `concurrency` checks
// talk to the directory at once; when 8 times as many are already waiting, a new one is answered
// "unavailable" at once instead of queueing without bound. Cache lookups are one HMAC and run on
// the caller's thread, so a cached answer never waits behind a slow directory.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "core/auth/auth_cache.hpp"
#include "core/auth/ldap_directory.hpp"

namespace relayguard::auth {

class LdapAuthenticator {
 public:
  explicit LdapAuthenticator(LdapAuthConfig config);
  ~LdapAuthenticator();
  LdapAuthenticator(const LdapAuthenticator&) = delete;
  LdapAuthenticator& operator=(const LdapAuthenticator&) = delete;

  struct Answer {
    DirectoryAnswer directory;
    bool cached = false;  // answered from the cache, without the directory
  };
  asio::awaitable<Answer> check(const std::string& user, const std::string& password);
  // Forgets every cached answer (SIGHUP).
  void clearCache() { cache_.clear(); }

 private:
  LdapDirectory directory_;
  AuthCache cache_;
  asio::thread_pool pool_;
  std::size_t max_waiting_;
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace relayguard::auth
