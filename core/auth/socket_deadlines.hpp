// socket_deadlines: a backstop for blocking network libraries that can wait forever. A socket
// registered with a deadline is shut down (shutdown(2), not closed) by a thread of its own when
// the deadline passes, so a read blocked on it returns at once with end-of-file.
//
// Used for libldap, whose TLS handshake ignores every libldap timeout and retries a timed-out
// read endlessly: a server that accepts the connection and then stays silent would otherwise
// hold a thread for good. The owner must forget() a socket before closing it; forget() waits for
// a shutdown in progress, so a closed (and maybe reused) descriptor number is never touched.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace relayguard::auth {

class SocketDeadlines {
 public:
  using Clock = std::chrono::steady_clock;
  SocketDeadlines();
  ~SocketDeadlines();
  SocketDeadlines(const SocketDeadlines&) = delete;
  SocketDeadlines& operator=(const SocketDeadlines&) = delete;

  // Shuts `fd` down at `deadline` unless forgotten first (a new deadline replaces the old one).
  void watch(int fd, Clock::time_point deadline);
  void forget(int fd);

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, Clock::time_point> deadlines_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace relayguard::auth
