// io_watchdog: see io_watchdog.hpp.
#include "core/net/io_watchdog.hpp"

#include <mutex>

namespace relayguard::net {

struct IoWatchdog::State {
  explicit State(const asio::any_io_executor& executor) : timer(executor) {}
  // The timer's handler runs on the timer's executor, which need not be the strand of the
  // connection's coroutine (a pooled outbound connection serves coroutines of several strands).
  std::mutex mutex;
  asio::steady_timer timer;
  asio::ip::tcp::socket* socket = nullptr;  // whose wait to cancel; null: nothing to watch
  Clock::time_point deadline = Clock::time_point::max();  // max: no wait running
  bool expired = false;      // the running wait was cancelled because its deadline passed
  bool armed = false;        // a timer wait is pending
  std::uint64_t arming = 0;  // which timer wait is the current one
};

IoWatchdog::IoWatchdog(const asio::any_io_executor& executor, asio::ip::tcp::socket& socket)
    : state_(std::make_shared<State>(executor)) {
  state_->socket = &socket;  // not shared yet
}

IoWatchdog::~IoWatchdog() {
  detach();
}

void IoWatchdog::retarget(asio::ip::tcp::socket& socket) {
  const std::lock_guard lock(state_->mutex);
  state_->socket = &socket;
}

void IoWatchdog::detach() {
  const std::lock_guard lock(state_->mutex);
  state_->socket = nullptr;
  state_->timer.cancel();
}

void IoWatchdog::arm(const std::shared_ptr<State>& state) {
  state->armed = true;
  const std::uint64_t arming = ++state->arming;
  state->timer.async_wait([state, arming](const std::error_code& ec) {
    const std::lock_guard lock(state->mutex);
    if (arming != state->arming) {
      return;  // moved to an earlier deadline: a newer timer wait is the current one
    }
    state->armed = false;
    if (ec || state->socket == nullptr || state->deadline == Clock::time_point::max()) {
      return;  // stopped, or no wait running: the next wait arms it again
    }
    if (Clock::now() < state->deadline) {
      state->timer.expires_at(state->deadline);  // later waits pushed the deadline on
      arm(state);
      return;
    }
    state->expired = true;
    std::error_code ignored;
    state->socket->cancel(ignored);
  });
}

void IoWatchdog::watchUntil(Clock::time_point deadline) {
  const std::lock_guard lock(state_->mutex);
  state_->deadline = deadline;
  state_->expired = false;
  if (state_->socket == nullptr) {
    return;
  }
  if (!state_->armed || state_->timer.expiry() > deadline) {
    state_->timer.expires_at(deadline);  // a pending timer wait ends cancelled, superseded
    arm(state_);
  }
}

bool IoWatchdog::done() {
  const std::lock_guard lock(state_->mutex);
  state_->deadline = Clock::time_point::max();
  return state_->expired;
}

}  // namespace relayguard::net
