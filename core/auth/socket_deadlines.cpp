// socket_deadlines: the watchdog thread (see socket_deadlines.hpp).
#include "core/auth/socket_deadlines.hpp"

#include <algorithm>

#include <sys/socket.h>

namespace relayguard::auth {

SocketDeadlines::SocketDeadlines() : thread_([this] { run(); }) {}

SocketDeadlines::~SocketDeadlines() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SocketDeadlines::watch(int fd, Clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    deadlines_[fd] = deadline;
  }
  changed_.notify_all();
}

void SocketDeadlines::forget(int fd) {
  std::lock_guard lock(mutex_);
  deadlines_.erase(fd);
}

void SocketDeadlines::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (deadlines_.empty()) {
      changed_.wait(lock);
      continue;
    }
    const auto next = std::min_element(deadlines_.begin(), deadlines_.end(),
                                       [](auto& a, auto& b) { return a.second < b.second; });
    if (next->second > Clock::now()) {
      changed_.wait_until(lock, next->second);
      continue;
    }
    // Under the lock: forget() (and so the owner's close) waits until this is done.
    ::shutdown(next->first, SHUT_RDWR);
    deadlines_.erase(next);
  }
}

}  // namespace relayguard::auth
