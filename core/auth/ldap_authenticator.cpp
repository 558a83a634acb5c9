// ldap_authenticator: cache, own thread pool and back-pressure for directory checks (see
// ldap_authenticator.hpp).
#include "core/auth/ldap_authenticator.hpp"

#include "core/util/blocking.hpp"

namespace relayguard::auth {

LdapAuthenticator::LdapAuthenticator(LdapAuthConfig config)
    : directory_(std::move(config)),
      cache_(directory_.config().cache_ttl),
      pool_(directory_.config().concurrency),
      max_waiting_(directory_.config().concurrency * 8) {}

LdapAuthenticator::~LdapAuthenticator() {
  pool_.join();
}

asio::awaitable<LdapAuthenticator::Answer> LdapAuthenticator::check(const std::string& user,
                                                                    const std::string& password) {
  using Verdict = DirectoryAnswer::Verdict;
  if (const auto hit = cache_.lookup(user, password)) {
    co_return Answer{
        {*hit ? Verdict::kAccepted : Verdict::kRejected, *hit ? "" : "refused (cached answer)"},
        true};
  }
  // Count this check in; refuse at once when too many are already queued.
  if (in_flight_.fetch_add(1) >= max_waiting_) {
    in_flight_.fetch_sub(1);
    co_return Answer{{Verdict::kUnavailable, "too many directory checks waiting"}, false};
  }
  DirectoryAnswer got;
  try {
    got = co_await runBlocking(pool_, [&] { return directory_.check(user, password); });
  } catch (...) {
    in_flight_.fetch_sub(1);
    throw;
  }
  in_flight_.fetch_sub(1);
  if (got.verdict != Verdict::kUnavailable) {
    cache_.store(user, password, got.verdict == Verdict::kAccepted);
  }
  co_return Answer{std::move(got), false};
}

}  // namespace relayguard::auth
