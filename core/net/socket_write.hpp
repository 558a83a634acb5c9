// socket_write: writing to a connection's socket, at once when it takes the bytes, else bounded
// in time.
//
// An SMTP reply or a pipelined group of commands almost always fits the socket's send buffer.
// Sent at once, it needs no asynchronous operation (a coroutine frame, a trip through the event
// loop) and no watchdog; only what the socket does not take, and whatever goes through TLS, is
// written asynchronously, its wait bounded by the connection's watchdog.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "core/net/io_watchdog.hpp"

namespace relayguard::net {

// Whether `ec` only says that a non-blocking socket operation would have had to wait.
inline bool wouldBlock(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// Writes as much of `data` as `socket` takes now and returns how much that was (nothing when
// the socket is not in non-blocking mode). `ec` is set on an error other than a full buffer.
std::size_t writeWithoutWaiting(asio::ip::tcp::socket& socket, std::string_view data,
                                std::error_code& ec);

// How writeAll() ended: all written (no error, not timed out), or not.
struct WriteResult {
  std::error_code error;   // set whenever not all was written
  bool timed_out = false;  // the watchdog cancelled the write at its deadline
  bool ok() const { return !error && !timed_out; }
};

// Writes all of `data` on a connection that is `plain` until its TLS upgrade and `*tls` after
// it: on the plain socket first what it takes at once, then the rest (over TLS all of it)
// asynchronously, that wait bounded by `watchdog` to `timeout`.
template <class TlsStream>
asio::awaitable<WriteResult> writeAll(asio::ip::tcp::socket& plain, std::optional<TlsStream>& tls,
                                      IoWatchdog& watchdog, std::string_view data,
                                      std::chrono::steady_clock::duration timeout) {
  constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
  WriteResult result;
  if (!tls) {
    data.remove_prefix(writeWithoutWaiting(plain, data, result.error));
    if (result.error || data.empty()) {
      co_return result;
    }
  }
  const asio::const_buffer buffer(data.data(), data.size());
  watchdog.watchUntil(std::chrono::steady_clock::now() + timeout);
  // g++ 12 mis-compiles co_await inside a condition: one statement per write.
  if (tls) {
    std::tie(result.error, std::ignore) = co_await asio::async_write(*tls, buffer, kUseTuple);
  } else {
    std::tie(result.error, std::ignore) = co_await asio::async_write(plain, buffer, kUseTuple);
  }
  result.timed_out = watchdog.done();
  co_return result;
}

}  // namespace relayguard::net
