// socket_write: writes that take what the socket takes now, and never wait.
#include "core/net/socket_write.hpp"

#include <string>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <gtest/gtest.h>

#include "tests/support/loopback_pair.hpp"

namespace relayguard::net {
namespace {

using asio::ip::tcp;

// A connected loopback pair: `ours` writes, `peer` reads (or does not).
struct Pair {
  asio::io_context io;
  tcp::socket ours{io};
  tcp::socket peer{io};

  Pair() { test::connectLoopback(io, peer, ours); }
};

TEST(SocketWrite, AReplyIsWrittenWholeAtOnce) {
  Pair p;
  p.ours.non_blocking(true);
  const std::string reply = "250 2.0.0 Ok: queued as 0123456789\r\n";
  std::error_code ec;
  EXPECT_EQ(writeWithoutWaiting(p.ours, reply, ec), reply.size());
  EXPECT_FALSE(ec);
  std::string got(reply.size(), '\0');
  asio::read(p.peer, asio::buffer(got));
  EXPECT_EQ(got, reply);
}

TEST(SocketWrite, WhatTheFullSocketDoesNotTakeIsLeftWithoutError) {
  Pair p;
  p.ours.set_option(tcp::socket::send_buffer_size(4096));
  p.ours.non_blocking(true);
  const std::string big(8 << 20, 'x');  // far more than both buffers hold; the peer never reads
  std::error_code ec;
  const std::size_t n = writeWithoutWaiting(p.ours, big, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GT(n, 0U);
  EXPECT_LT(n, big.size());
  // The bytes taken arrive in order; the rest was not written.
  p.ours.close();
  std::string got;
  std::error_code rec;
  asio::read(p.peer, asio::dynamic_buffer(got), rec);
  EXPECT_EQ(rec, asio::error::eof);
  EXPECT_EQ(got.size(), n);
  EXPECT_EQ(got.find_first_not_of('x'), std::string::npos);
}

TEST(SocketWrite, ABlockingSocketIsLeftToTheCaller) {
  Pair p;
  std::error_code ec;
  EXPECT_EQ(writeWithoutWaiting(p.ours, "QUIT\r\n", ec), 0U);
  EXPECT_FALSE(ec);
}

TEST(SocketWrite, AResetConnectionIsAnError) {
  Pair p;
  p.peer.set_option(asio::socket_base::linger(true, 0));  // close sends RST
  p.peer.close();
  p.ours.non_blocking(true);
  std::error_code ec;
  const std::string line = "RSET\r\n";
  // The first write may still be taken before the reset is seen; the next fails.
  for (int i = 0; i < 100 && !ec; ++i) {
    writeWithoutWaiting(p.ours, line, ec);
  }
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      << ec.message();
}

}  // namespace
}  // namespace relayguard::net
