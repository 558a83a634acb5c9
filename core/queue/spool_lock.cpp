// spool_lock: flock on <spool_dir>/relayguard.lock (see spool_lock.hpp).
#include "core/queue/spool_lock.hpp"

#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace relayguard::queue {

bool SpoolLock::acquire(const std::filesystem::path& spool_dir) {
  const auto path = spool_dir / "relayguard.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  return fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
}

SpoolLock::SpoolLock(const std::filesystem::path& spool_dir) {
  if (!acquire(spool_dir)) {
    throw std::runtime_error((spool_dir / "relayguard.lock").string() +
                             ": the spool is in use by another relayguard serve");
  }
}

std::optional<SpoolLock> SpoolLock::tryAcquire(const std::filesystem::path& spool_dir) {
  SpoolLock lock;
  if (!lock.acquire(spool_dir)) {
    return std::nullopt;
  }
  return std::optional<SpoolLock>(std::move(lock));
}

SpoolLock::~SpoolLock() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

}  // namespace relayguard::queue
