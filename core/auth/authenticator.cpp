// authenticator: users file, password checks, throttling and rate limits (see authenticator.hpp).
#include "core/auth/authenticator.hpp"

#include <spdlog/spdlog.h>

#include "core/auth/password_hash.hpp"
#include "core/util/blocking.hpp"

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
    spdlog::info("AUTH against the directory {} (cache {}s)", ldap->urlList(),
                 ldap->cache_ttl.count());
  }
  if (file_.empty()) {
    return;
  }
  users_ = std::make_shared<const UsersFile>(UsersFile::load(file_));
  if (users_->stamp().size < 0) {
    spdlog::warn("users file {} does not exist yet: no one can authenticate (relayguard user add)",
                 file_.string());
  } else {
    spdlog::info("users file {}: {} user(s)", file_.string(), users_->size());
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
    spdlog::info("users file {} reloaded: {} user(s)", file_.string(), users_->size());
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    refused_ = UsersFile::stampOf(file_);
    spdlog::error("users file reload refused, the users in force stay: {}", e.what());
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
    spdlog::error("auth unavailable client={} user=\"{}\" mechanism={}: {}", client_ip,
                  printableUser(user), mechanism, got.directory.reason);
    co_return Result{Outcome::kUnavailable, {}};
  }
  if (got.directory.verdict == Verdict::kRejected) {
    co_return fail(client_ip, user, mechanism, std::string(how) + ": " + got.directory.reason);
  }
  spdlog::info("auth ok client={} user=\"{}\" mechanism={} source={}", client_ip,
               printableUser(user), mechanism, how);
  co_return Result{Outcome::kOk, {}};
}

bool Authenticator::lockedOut(const std::string& client_ip) {
  return throttle_.lockedOut(client_ip);
}

Authenticator::Result Authenticator::fail(const std::string& client_ip, const std::string& user,
                                          std::string_view mechanism, std::string_view why) {
  const auto f = throttle_.recordFailure(client_ip);
  spdlog::warn("auth failed client={} user=\"{}\" mechanism={} reason=\"{}\" failures={}",
               client_ip, printableUser(user), mechanism, why, f.failures);
  if (f.locked_out) {
    spdlog::warn("auth lockout client={} after {} failures", client_ip, f.failures);
  }
  return Result{Outcome::kFailed, f.delay};
}

asio::awaitable<Authenticator::Result> Authenticator::authenticate(const std::string& client_ip,
                                                                   const std::string& user,
                                                                   const std::string& password,
                                                                   std::string_view mechanism) {
  if (throttle_.lockedOut(client_ip)) {
    spdlog::warn("auth refused client={} user=\"{}\": locked out after too many failures",
                 client_ip, printableUser(user));
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
  spdlog::info("auth ok client={} user=\"{}\" mechanism={}", client_ip, printableUser(user),
               mechanism);
  co_return Result{Outcome::kOk, {}};
}

}  // namespace relayguard::auth
