// loopback_pair: two connected TCP sockets on 127.0.0.1, for tests of code that reads from or
// writes to a real connection: `near` is the side under test, `far` the peer the test drives.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace relayguard::test {

// Connects `far` to a fresh listener and accepts `near` from it. The listener's options (for
// example a receive buffer size) are set by `configure` before the connection, so that the
// accepted socket inherits them.
template <class Configure>
void connectLoopback(asio::io_context& io, asio::ip::tcp::socket& far, asio::ip::tcp::socket& near,
                     Configure&& configure) {
  asio::ip::tcp::acceptor acceptor(io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  configure(acceptor);
  far.connect(acceptor.local_endpoint());
  acceptor.accept(near);
}

inline void connectLoopback(asio::io_context& io, asio::ip::tcp::socket& far,
                            asio::ip::tcp::socket& near) {
  connectLoopback(io, far, near, [](asio::ip::tcp::acceptor&) {});
}

}  // namespace relayguard::test
