// socket_write: writing to a non-blocking TCP socket without waiting for it.
//
// An SMTP reply or a pipelined group of commands almost always fits the socket's send buffer.
// Sent at once, it needs no asynchronous operation raced against a timer (a coroutine frame, a
// timer armed and cancelled, a trip through the event loop); only what the socket does not take
// is left for the asynchronous, time-bounded path.
#pragma once

#include <cstddef>
#include <string_view>
#include <system_error>

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>

namespace relayguard::net {

// Whether `ec` only says that a non-blocking socket operation would have had to wait.
inline bool wouldBlock(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// Writes as much of `data` as `socket` takes now and returns how much that was (nothing when
// the socket is not in non-blocking mode). `ec` is set on an error other than a full buffer.
std::size_t writeWithoutWaiting(asio::ip::tcp::socket& socket, std::string_view data,
                                std::error_code& ec);

}  // namespace relayguard::net
