// authenticator: checks SMTP AUTH credentials for the listeners, with brute-force protection
// and the per-user sending rate limit.
//
// The users file (access.users_file) is read at start-up, again on SIGHUP, and whenever its
// stamp (inode, size, mtime) has changed when an AUTH arrives, so `relayguard user add` takes
// effect without a reload. A file that no longer loads (bad permissions, a malformed line) is
// refused with an error in the log and the users in force stay. Password checks run argon2id
// on the blocking pool, never on an I/O thread; an unknown user is checked against a dummy hash,
// so the reply time does not tell which user names exist. Every failure is logged with the
// client IP and the user name tried (made printable), never the password.
//
// With [auth.ldap] (ldap_authenticator.hpp), a user name not listed in the users file is checked
// against the directory: the users file comes first and decides alone for the names it lists
// (so a local account cannot be taken over through the directory, nor the reverse), every other
// name goes to LDAP. Without a users file only the directory is asked. A directory that gives no
// answer (down, timing out, TLS failure) is kUnavailable: a temporary failure, not counted as a
// brute-force failure.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "core/auth/auth_throttle.hpp"
#include "core/auth/ldap_authenticator.hpp"
#include "core/auth/send_rate_limiter.hpp"
#include "core/auth/users_file.hpp"
#include "core/config/config.hpp"

namespace relayguard::auth {

class Authenticator {
 public:
  // Loads the users file (if access.users_file is set); throws ConfigError when it cannot be
  // used. `ldap`: also check names the users file does not list against this directory.
  Authenticator(const AccessConfig& access, asio::thread_pool& blocking,
                const std::optional<LdapAuthConfig>& ldap = std::nullopt);
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // kUnavailable: the directory gave no answer (454 4.7.0, not counted as a failure).
  enum class Outcome { kOk, kFailed, kLockedOut, kUnavailable };
  struct Result {
    Outcome outcome = Outcome::kFailed;
    std::chrono::milliseconds delay{0};  // hold the failure reply back this long
  };
  // True while the client's address is locked out (checked before any exchange).
  bool lockedOut(const std::string& client_ip);
  // Checks a user name and password from `client_ip`; `mechanism` is for the log.
  asio::awaitable<Result> authenticate(const std::string& client_ip, const std::string& user,
                                       const std::string& password, std::string_view mechanism);
  // Counts a failure that needs no password check (a refused authorization identity).
  Result fail(const std::string& client_ip, const std::string& user, std::string_view mechanism,
              std::string_view why);
  // Per-user sending rate: false when `user` may not start another message now.
  bool allowMessage(const std::string& user) { return rate_.tryAcquire(user); }

  // Re-reads the users file (blocking; SIGHUP runs it on the blocking pool). Logs and keeps the
  // old users when the file does not load. Also forgets the cached directory answers.
  void reload();
  std::size_t userCount() const;

 private:
  // The users in force, re-read first if the file changed on disk (blocking).
  std::shared_ptr<const UsersFile> current();
  enum class Local { kAccepted, kRejected, kNotListed };
  // The users file's verdict; kNotListed (without hashing) when the name is not in it and the
  // directory is to be asked.
  Local checkLocal(const std::string& user, const std::string& password);
  asio::awaitable<Result> checkDirectory(const std::string& client_ip, const std::string& user,
                                         const std::string& password, std::string_view mechanism);

  std::filesystem::path file_;
  asio::thread_pool& blocking_;
  AuthThrottle throttle_;
  SendRateLimiter rate_;
  std::string dummy_hash_;
  mutable std::mutex mutex_;
  std::shared_ptr<const UsersFile> users_;
  FileStamp refused_;  // a version of the file that did not load: not retried until it changes
  std::unique_ptr<LdapAuthenticator> ldap_;  // [auth.ldap], or null
};

// A user name as it may appear in a log line: printable ASCII, at most 64 characters.
std::string printableUser(std::string_view user);

}  // namespace relayguard::auth
