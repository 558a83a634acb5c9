// spool_lock: the exclusive flock on <spool_dir>/relayguard.lock. `relayguard serve` holds it for
// its whole life, so two relays never share a spool; a CLI command that changes the spool while
// no relay runs (queue delete, quarantine release, ...) holds it for the change, so a relay
// starting meanwhile waits for nothing and finds the spool consistent.
#pragma once

#include <filesystem>
#include <optional>

namespace relayguard::queue {

class SpoolLock {
 public:
  // Throws std::runtime_error when another process holds the lock.
  explicit SpoolLock(const std::filesystem::path& spool_dir);
  // nullopt when another process holds the lock.
  static std::optional<SpoolLock> tryAcquire(const std::filesystem::path& spool_dir);

  SpoolLock(SpoolLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  SpoolLock& operator=(SpoolLock&&) = delete;
  ~SpoolLock();

 private:
  SpoolLock() = default;
  bool acquire(const std::filesystem::path& spool_dir);
  int fd_ = -1;
};

}  // namespace relayguard::queue
