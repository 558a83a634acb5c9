// file_lock: an exclusive flock(2) on a lock file, held for the life of the object (the spool's
// single-relay lock, the users file's writer lock). The lock file is created mode 0600 if needed.
#pragma once

#include <filesystem>

namespace relayguard {

class FileLock {
 public:
  enum class Mode { kWait, kTry };
  // Throws std::runtime_error naming `path` when the file cannot be opened, or (kTry) when
  // another process holds the lock: `busy` is then the error text after "path: ".
  FileLock(const std::filesystem::path& path, Mode mode,
           const char* busy = "locked by another process");
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  int fd_ = -1;
};

}  // namespace relayguard
