// io_watchdog: bounds a socket's waits in time without a timer raced against each of them.
//
// A wait is any one operation on the socket at a time: a read, a write that the send buffer did
// not take at once, a TLS handshake. A connection's operations follow one another (an SMTP
// session, inbound or outbound, is one coroutine), so one watchdog serves them all.
//
// Racing every wait against a timer (Asio's `||`) costs a parallel group per wait: two coroutine
// frames, a timer armed and cancelled, executor copies. A connection that waits many times a
// second, each time with a deadline a little later than the last, needs much less: one timer,
// armed for the first deadline and moved only when a deadline comes earlier than it. When it
// fires before the current deadline (which later waits have pushed on) it sleeps again until
// then; when the deadline has passed it cancels the socket's operations, and the wait that was
// running learns from done() that this was a timeout rather than a cancel from elsewhere.
//
// The timer's handler shares the watchdog's state, so it may run after the owner is gone, and
// takes its lock, so it may run on another thread than the socket's operations (it cancels them
// under the lock; Asio serialises a cancel with their start).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

namespace relayguard::net {

class IoWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  // Watches `socket` (which must stay at its address until detach() or destruction).
  IoWatchdog(const asio::any_io_executor& executor, asio::ip::tcp::socket& socket);
  ~IoWatchdog();
  IoWatchdog(const IoWatchdog&) = delete;
  IoWatchdog& operator=(const IoWatchdog&) = delete;

  // Bounds the socket's next wait by `deadline` (call before it starts).
  void watchUntil(Clock::time_point deadline);
  // The wait is over: true if its deadline passed and the watchdog cancelled it.
  bool done();
  // The socket moved (into a TLS stream, whose next layer it now is): watch it there.
  void retarget(asio::ip::tcp::socket& socket);
  // Nothing to watch any more.
  void detach();

 private:
  struct State;
  static void arm(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace relayguard::net
