// privileges_test: the [service] user check, and dropping root in a forked child (the tests run
// as root): afterwards the child runs as nobody for good (setuid(0) fails), holds no capability
// and can no longer write a root-only spool, which checkSpoolAccess reports with the fix.
#include "core/server/privileges.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

ServiceConfig service(const std::string& user) {
  ServiceConfig s;
  s.user = user;
  s.where = SourcePosition{"relayguard.toml", 40, 8};
  return s;
}

// Runs `body` in a forked child; its exit code (the number of failed checks), or -1.
template <typename F>
int inChild(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int failures = 0;
    try {
      failures = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      failures = 100;
    }
    ::_exit(failures);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Privileges, UnknownUserIsAConfigErrorAtTheKey) {
  EXPECT_NO_THROW(checkServiceUser(service("")));
  EXPECT_NO_THROW(checkServiceUser(service("nobody")));
  try {
    checkServiceUser(service("no-such-user-rg"));
    FAIL() << "accepted a user that does not exist";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "relayguard.toml:40:8: user: no such user 'no-such-user-rg'");
  }
}

TEST(Privileges, DropsRootForGood) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root";
  }
  const passwd* pw = ::getpwnam("nobody");
  ASSERT_NE(pw, nullptr);
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  test::TempDir dir;
  const auto spool = dir.path() / "spool";
  std::filesystem::create_directories(spool);
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  const int failures = inChild([&] {
    dropPrivileges(service("nobody"));
    int bad = 0;
    bad += ::getuid() != uid || ::geteuid() != uid;
    bad += ::getgid() != gid || ::getegid() != gid;
    bad += ::setuid(0) == 0;
    bad += ::setgid(0) == 0;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("CapEff:") || line.starts_with("CapPrm:")) {
        bad += line.find("0000000000000000") == std::string::npos;
      }
    }
    try {
      checkSpoolAccess(spool);  // root's, 0755
      ++bad;
    } catch (const std::runtime_error& e) {
      bad += std::string(e.what()).find("not readable and writable by nobody") == std::string::npos;
    }
    return bad;
  });
  EXPECT_EQ(failures, 0);
}

TEST(Privileges, RootWithoutAUserKeepsRoot) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root";
  }
  EXPECT_EQ(inChild([] {
              dropPrivileges(service(""));
              return ::geteuid() == 0 ? 0 : 1;
            }),
            0);
}

TEST(Privileges, SpoolAccessOfTheOwner) {
  test::TempDir dir;
  EXPECT_NO_THROW(checkSpoolAccess(dir.path() / "not-yet"));  // made later by the spool
  std::filesystem::create_directories(dir.path() / "spool" / "queue");
  std::ofstream(dir.path() / "spool" / "queue" / "x.env") << "{}";
  EXPECT_NO_THROW(checkSpoolAccess(dir.path() / "spool"));
}

}  // namespace
}  // namespace relayguard
