// ldap_authenticator_test: the directory behind the relay's Authenticator, against a real slapd:
// cached successes keep working while the directory is down and end with the TTL (so a changed
// password takes effect), "unavailable" is never cached nor counted as a brute-force failure,
// and the users file decides alone for the names it lists.
#include "core/auth/ldap_authenticator.hpp"

#include <future>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/auth/authenticator.hpp"
#include "core/auth/password_hash.hpp"
#include "core/auth/users_file.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certificates.hpp"
#include "tests/support/test_slapd.hpp"

namespace relayguard::auth {
namespace {

using Verdict = DirectoryAnswer::Verdict;
using Outcome = Authenticator::Outcome;
using test::TestSlapd;

// Runs one coroutine to completion on a fresh io_context.
template <class T>
T run(asio::awaitable<T> task) {
  asio::io_context io;
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  io.run();
  return future.get();
}

class LdapAuthenticatorTest : public ::testing::Test {
 protected:
  LdapAuthConfig config(std::chrono::seconds ttl) const {
    LdapAuthConfig c = server_.authConfig();
    c.cache_ttl = ttl;
    return c;
  }

  test::TempDir dir_;
  test::TestDirectoryServer server_{dir_.path()};
  TestSlapd* slapd_ = &server_.slapd;
};

TEST_F(LdapAuthenticatorTest, ACachedSuccessOutlivesTheDirectoryUntilItsTtl) {
  LdapAuthenticator ldap(config(std::chrono::seconds(1)));
  const auto first = run(ldap.check("alice", "alice's secret"));
  EXPECT_EQ(first.directory.verdict, Verdict::kAccepted) << first.directory.reason;
  EXPECT_FALSE(first.cached);
  slapd_->stop();
  const auto cached = run(ldap.check("alice", "alice's secret"));
  EXPECT_EQ(cached.directory.verdict, Verdict::kAccepted);
  EXPECT_TRUE(cached.cached);
  // Another password is not answered from the cache.
  EXPECT_EQ(run(ldap.check("alice", "guess")).directory.verdict, Verdict::kUnavailable);

  // The password changes in the directory; after the TTL the old one no longer works.
  slapd_->start();
  slapd_->setPassword("alice", "alice's new secret");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto old = run(ldap.check("alice", "alice's secret"));
  EXPECT_EQ(old.directory.verdict, Verdict::kRejected) << old.directory.reason;
  EXPECT_FALSE(old.cached);
  EXPECT_EQ(run(ldap.check("alice", "alice's new secret")).directory.verdict, Verdict::kAccepted);
}

TEST_F(LdapAuthenticatorTest, FailuresAreCachedPerPasswordAndUnavailableIsNot) {
  LdapAuthenticator ldap(config(std::chrono::seconds(60)));
  EXPECT_EQ(run(ldap.check("alice", "typo")).directory.verdict, Verdict::kRejected);
  const auto again = run(ldap.check("alice", "typo"));
  EXPECT_EQ(again.directory.verdict, Verdict::kRejected);
  EXPECT_TRUE(again.cached);
  // The corrected password is asked fresh: a cached failure never locks out a fixed typo.
  const auto fixed = run(ldap.check("alice", "alice's secret"));
  EXPECT_EQ(fixed.directory.verdict, Verdict::kAccepted);
  EXPECT_FALSE(fixed.cached);

  slapd_->stop();
  EXPECT_EQ(run(ldap.check("bob", "bob's secret")).directory.verdict, Verdict::kUnavailable);
  slapd_->start();
  const auto back = run(ldap.check("bob", "bob's secret"));
  EXPECT_EQ(back.directory.verdict, Verdict::kRejected);  // not in the group: a real answer
  EXPECT_FALSE(back.cached);
}

TEST_F(LdapAuthenticatorTest, SighupClearsTheCache) {
  LdapAuthenticator ldap(config(std::chrono::seconds(60)));
  EXPECT_EQ(run(ldap.check("alice", "alice's secret")).directory.verdict, Verdict::kAccepted);
  slapd_->stop();
  ldap.clearCache();
  EXPECT_EQ(run(ldap.check("alice", "alice's secret")).directory.verdict, Verdict::kUnavailable);
}

TEST_F(LdapAuthenticatorTest, UsersFileFirstThenTheDirectory) {
  UsersFile users;
  users.set("alice", hashPassword("local alice password", HashParameters{1024, 1, 1}));
  users.save(dir_.path() / "users");
  AccessConfig access;
  access.users_file = dir_.path() / "users";
  access.auth_lockout_failures = 2;
  asio::thread_pool blocking(2);
  Authenticator auth(access, blocking, config(std::chrono::seconds(0)));
  auto outcome = [&](const std::string& ip, const std::string& user, const std::string& pw) {
    return run(auth.authenticate(ip, user, pw, "PLAIN")).outcome;
  };
  // alice is listed locally: only the users file's password counts.
  EXPECT_EQ(outcome("192.0.2.1", "alice", "local alice password"), Outcome::kOk);
  EXPECT_EQ(outcome("192.0.2.2", "alice", "alice's secret"), Outcome::kFailed);
  // bob is not: the directory decides (bob is not in the group; without it he would pass).
  EXPECT_EQ(outcome("192.0.2.3", "bob", "bob's secret"), Outcome::kFailed);

  // The directory down: a temporary failure, however often, and no lockout.
  slapd_->stop();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(outcome("192.0.2.4", "carol", "carol's secret"), Outcome::kUnavailable);
  }
  EXPECT_FALSE(auth.lockedOut("192.0.2.4"));
  // The local user still works without the directory.
  EXPECT_EQ(outcome("192.0.2.4", "alice", "local alice password"), Outcome::kOk);
  blocking.join();
}

}  // namespace
}  // namespace relayguard::auth
