// privileges: dropping root and capabilities after binding (see privileges.hpp).
#include "core/server/privileges.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/util/log_event.hpp"

namespace relayguard {
namespace {

struct UserEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::string errnoText() {
  return std::strerror(errno);
}

std::optional<UserEntry> findUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return UserEntry{pw.pw_name, pw.pw_uid, pw.pw_gid};
}

std::string userName(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return "uid " + std::to_string(uid);
  }
  return pw.pw_name;
}

// Clears the ambient, effective, permitted and inheritable capability sets (always allowed);
// nothing to do for a process that holds none.
void dropCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) == 0 &&
      (data[0].permitted | data[1].permitted | data[0].inheritable | data[1].inheritable) == 0) {
    return;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw std::runtime_error("cannot clear the ambient capabilities: " + errnoText());
  }
  header = {_LINUX_CAPABILITY_VERSION_3, 0};
  std::memset(data, 0, sizeof data);
  if (::syscall(SYS_capset, &header, data) != 0) {
    throw std::runtime_error("cannot drop the capabilities: " + errnoText());
  }
}

void switchUser(const UserEntry& user) {
  if (::initgroups(user.name.c_str(), user.gid) != 0) {
    throw std::runtime_error("cannot set the groups of user " + user.name + ": " + errnoText());
  }
  if (::setgid(user.gid) != 0) {
    throw std::runtime_error("cannot switch to group " + std::to_string(user.gid) + ": " +
                             errnoText());
  }
  if (::setuid(user.uid) != 0) {
    throw std::runtime_error("cannot switch to user " + user.name + ": " + errnoText());
  }
  // For good: neither the real nor the saved ids may lead back to root.
  if (::setuid(0) == 0 || ::getuid() != user.uid || ::geteuid() != user.uid ||
      ::getgid() != user.gid || ::getegid() != user.gid) {
    throw std::runtime_error("dropping root to user " + user.name + " did not hold");
  }
}

// The [service] user's entry; nullopt when none is configured. Throws when it does not exist.
std::optional<UserEntry> serviceUser(const ServiceConfig& service) {
  if (service.user.empty()) {
    return std::nullopt;
  }
  auto user = findUser(service.user);
  if (!user) {
    throw ConfigError(service.where, "user: no such user '" + service.user + "'");
  }
  return user;
}

}  // namespace

void checkServiceUser(const ServiceConfig& service) {
  serviceUser(service);
}

void dropPrivileges(const ServiceConfig& service) {
  const auto user = serviceUser(service);
  const uid_t uid = ::geteuid();
  if (uid != 0) {
    if (user && user->uid != uid) {
      throw std::runtime_error("[service] user = '" + service.user + "', but serve runs as " +
                               userName(uid) + ", not root: it cannot switch users");
    }
    dropCapabilities();
    log::info("capabilities_dropped", {{"user", userName(uid)}});
    return;
  }
  if (!user) {
    log::warn("running_as_root",
              {{"hint",
                "set [service] user (e.g. relayguard) so that serve drops root after "
                "binding"}});
    return;
  }
  if (user->uid == 0) {
    log::warn("running_as_root", {{"user", service.user}, {"hint", "[service] user is root"}});
    return;
  }
  switchUser(*user);
  log::info("dropped_root", {{"user", user->name}, {"uid", user->uid}, {"gid", user->gid}});
}

void checkSpoolAccess(const std::filesystem::path& spool_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(spool_dir, ec)) {
    return;
  }
  auto refuse = [&](const std::filesystem::path& p) {
    const std::string user = userName(::geteuid());
    throw std::runtime_error("spool_dir: " + p.string() + " is not readable and writable by " +
                             user + " (the user serve runs as); fix it as root with: chown -R " +
                             user + ": " + spool_dir.string());
  };
  if (::access(spool_dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    refuse(spool_dir);
  }
  // Sockets and the lock are replaced or opened by the relay itself; everything must be usable.
  const auto options = std::filesystem::directory_options::skip_permission_denied;
  std::filesystem::recursive_directory_iterator it(spool_dir, options, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (::access(it->path().c_str(), dir ? (R_OK | W_OK | X_OK) : (R_OK | W_OK)) != 0) {
      refuse(it->path());
    }
  }
}

}  // namespace relayguard
