// file_lock: exclusive flock on a lock file (see file_lock.hpp).
#include "core/util/file_lock.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace relayguard {

FileLock::FileLock(const std::filesystem::path& path, Mode mode, const char* busy) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw std::runtime_error(path.string() +
                             ": cannot open the lock file: " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | (mode == Mode::kTry ? LOCK_NB : 0)) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error(path.string() + ": " +
                             (err == EWOULDBLOCK ? std::string(busy) : std::strerror(err)));
  }
}

FileLock::~FileLock() {
  ::close(fd_);
}

}  // namespace relayguard
