// blocking: runs a blocking call (fsync, a C library scan) on the blocking pool and resumes the
// calling coroutine on its own executor. I/O threads never block; exceptions thrown by fn are
// rethrown at the co_await.
#pragma once

#include <exception>
#include <type_traits>

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include "core/util/log_event.hpp"

namespace relayguard {

// A co_spawn completion token for background coroutines: like asio::detached, but an escaped
// exception is logged (with what was running) instead of vanishing.
inline auto logFailure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::critical("task_failed", {{"task", what}, {"error", ex.what()}});
    }
  };
}

template <class F>
asio::awaitable<std::invoke_result_t<F&>> runBlocking(asio::thread_pool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  co_return co_await asio::co_spawn(
      pool.get_executor(), [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); },
      asio::use_awaitable);
}

}  // namespace relayguard
