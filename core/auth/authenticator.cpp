// authenticator: users file, password checks, throttling and rate limits (see authenticator.hpp).
#include "core/auth/authenticator.hpp"

#include "core/auth/password_hash.hpp"
#include "core/util/blocking.hpp"
#include "core/util/log_event.hpp"

namespace relayguard::auth {
namespace {

ThrottleSettings throttleSettings(const AccessConfig& a) {
  ThrottleSettings s;
  s.failures_before_delay = a.auth_failures_before_delay;
  s.failure_delay = a.auth_failure_delay;
  s.lockout_failures = a.auth_lockout_failures;
  s.lockout = a.auth_lockout;
  return s;
}

}  // namespace

std::string printableUser(std::string_view user) {
  std::string out;
  for (char c : user.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u > 0x20 && u < 0x7f && c != '"' && c != '\\') ? c : '?';
  }
  if (user.size() > 64) {
    out += "...";
  }
  return out;
}

Authenticator::Authenticator(const AccessConfig& access, asio::thread_pool& blocking,
                             const std::optional<LdapAuthConfig>& ldap)
    : file_(access.users_file),
      blocking_(blocking),
      throttle_(throttleSettings(access)),
      rate_(access.user_messages_per_minute),
      dummy_hash_(hashPassword("relayguard dummy password, never valid")),
      users_(std::make_shared<const UsersFile>(UsersFile{})) {
  if (ldap) {
    ldap_ = std::make_unique<LdapAuthenticator>(*ldap);
    log::info("auth_directory",
              {{"url", ldap->urlList()}, {"cache_seconds", ldap->cache_ttl.count()}});
  }
  if (file_.empty()) {
    return;
  }
  users_ = std::make_shared<const UsersFile>(UsersFile::load(file_));
  if (users_->stamp().size < 0) {
    log::warn("users_file_missing",
              {{"file", file_.string()},
               {"detail", "no one can authenticate until `relayguard user add`"}});
  } else {
    log::info("users_loaded", {{"file", file_.string()}, {"users", users_->size()}});
  }
}

std::size_t Authenticator::userCount() const {
  std::lock_guard lock(mutex_);
  return users_->size();
}

void Authenticator::reload() {
  if (ldap_) {
    ldap_->clearCache();
  }
  if (file_.empty()) {
    return;
  }
  try {
    auto fresh = std::make_shared<const UsersFile>(UsersFile::load(file_));
    std::lock_guard lock(mutex_);
    users_ = std::move(fresh);
    log::info("users_reloaded", {{"file", file_.string()}, {"users", users_->size()}});
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    refused_ = UsersFile::stampOf(file_);
    log::error("users_reload_refused",
               {{"error", e.what()}, {"detail", "the users in force stay"}});
  }
}

std::shared_ptr<const UsersFile> Authenticator::current() {
  if (file_.empty()) {
    return users_;
  }
  {
    std::lock_guard lock(mutex_);
    const FileStamp now = UsersFile::stampOf(file_);
    if (now == users_->stamp() || now == refused_) {
      return users_;
    }
  }
  reload();
  std::lock_guard lock(mutex_);
  return users_;
}

Authenticator::Local Authenticator::checkLocal(const std::string& user,
                                               const std::string& password) {
  const auto users = current();
  const std::string* hash = users->hashFor(user);
  if (hash == nullptr && ldap_) {
    return Local::kNotListed;
  }
  // Unknown users cost the same argon2id run as known ones.
  const bool match = verifyPassword(hash != nullptr ? *hash : dummy_hash_, password);
  return match && hash != nullptr ? Local::kAccepted : Local::kRejected;
}

asio::awaitable<Authenticator::Result> Authenticator::checkDirectory(const std::string& client_ip,
                                                                     const std::string& user,
                                                                     const std::string& password,
                                                                     std::string_view mechanism) {
  using Verdict = DirectoryAnswer::Verdict;
  const LdapAuthenticator::Answer got = co_await ldap_->check(user, password);
  const std::string_view how = got.cached ? "ldap (cached)" : "ldap";
  if (got.directory.verdict == Verdict::kUnavailable) {
    log::error("auth_unavailable", {{"client", client_ip},
                                    {"user", printableUser(user)},
                                    {"mechanism", mechanism},
                                    {"error", got.directory.reason}});
    co_return Result{Outcome::kUnavailable, {}};
  }
  if (got.directory.verdict == Verdict::kRejected) {
    co_return fail(client_ip, user, mechanism, std::string(how) + ": " + got.directory.reason);
  }
  log::info("auth_ok", {{"client", client_ip},
                        {"user", printableUser(user)},
                        {"mechanism", mechanism},
                        {"source", how}});
  co_return Result{Outcome::kOk, {}};
}

bool Authenticator::lockedOut(const std::string& client_ip) {
  return throttle_.lockedOut(client_ip);
}

Authenticator::Result Authenticator::fail(const std::string& client_ip, const std::string& user,
                                          std::string_view mechanism, std::string_view why) {
  const auto f = throttle_.recordFailure(client_ip);
  log::warn("auth_failed", {{"client", client_ip},
                            {"user", printableUser(user)},
                            {"mechanism", mechanism},
                            {"reason", why},
                            {"failures", f.failures}});
  if (f.locked_out) {
    log::warn("auth_lockout", {{"client", client_ip}, {"failures", f.failures}});
  }
  return Result{Outcome::kFailed, f.delay};
}

asio::awaitable<Authenticator::Result> Authenticator::authenticate(const std::string& client_ip,
                                                                   const std::string& user,
                                                                   const std::string& password,
                                                                   std::string_view mechanism) {
  if (throttle_.lockedOut(client_ip)) {
    log::warn("auth_refused", {{"client", client_ip},
                               {"user", printableUser(user)},
                               {"reason", "locked out after too many failures"}});
    co_return Result{Outcome::kLockedOut, {}};
  }
  const Local local = co_await runBlocking(blocking_, [&] { return checkLocal(user, password); });
  if (local == Local::kNotListed) {
    const Result result = co_await checkDirectory(client_ip, user, password, mechanism);
    co_return result;
  }
  if (local == Local::kRejected) {
    co_return fail(client_ip, user, mechanism, "bad user name or password");
  }
  log::info("auth_ok",
            {{"client", client_ip}, {"user", printableUser(user)}, {"mechanism", mechanism}});
  co_return Result{Outcome::kOk, {}};
}

}  // namespace relayguard::auth
