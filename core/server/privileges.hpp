// privileges: what `relayguard serve` gives up once its sockets are bound. Started as root with
// [service] user set, it switches to that user for good (supplementary groups, group, user; it
// then checks that it can no longer become root). Started as any other user (systemd's User=
// with AmbientCapabilities=CAP_NET_BIND_SERVICE), it drops every capability it holds. Call it
// once, after everything that binds and before any thread or file of the spool is made, so that
// the spool, the audit log and the control socket belong to the unprivileged user.
#pragma once

#include <filesystem>

#include "core/config/config.hpp"

namespace relayguard {

// Throws ConfigError at the user key when [service] user names no user of this system.
void checkServiceUser(const ServiceConfig& service);

// Throws ConfigError at the user key for a user that does not exist, std::runtime_error when the
// switch is impossible (not root and a different user named) or fails.
void dropPrivileges(const ServiceConfig& service);

// Checks that the process's user can read and write the spool folder and everything below it
// (one that does not exist yet is made later, by the spool). Throws std::runtime_error naming
// the first path it cannot use and how to fix it.
void checkSpoolAccess(const std::filesystem::path& spool_dir);

}  // namespace relayguard
