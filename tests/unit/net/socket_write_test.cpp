// socket_write: writes that take what the socket takes now, and never wait; writeAll(), whose
// wait for the rest (plain or TLS) ends at its timeout when the peer never reads.
#include "core/net/socket_write.hpp"

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <gtest/gtest.h>

#include "tests/support/loopback_pair.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certificates.hpp"

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

using namespace std::chrono_literals;
using TlsStream = asio::ssl::stream<tcp::socket>;

// writeAll() of 16 MiB, which no pair of loopback socket buffers holds, to a peer that never
// reads, with a 200 ms timeout; what it answered and how long it took.
struct Outcome {
  WriteResult result;
  std::chrono::milliseconds took{};
};

Outcome writeToAPeerThatNeverReads(asio::io_context& io, tcp::socket& plain,
                                   std::optional<TlsStream>& tls) {
  IoWatchdog watchdog(io.get_executor(), tls ? tls->next_layer() : plain);
  const std::string big(16 << 20, 'x');
  Outcome out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto started = std::chrono::steady_clock::now();
        out.result = co_await writeAll(plain, tls, watchdog, big, 200ms);
        out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
      },
      asio::detached);
  io.run();
  return out;
}

void expectTimedOut(const Outcome& out) {
  EXPECT_TRUE(out.result.timed_out);
  EXPECT_TRUE(out.result.error) << "a write cut short is an error too";
  EXPECT_FALSE(out.result.ok());
  EXPECT_GE(out.took, 190ms);
  EXPECT_LT(out.took, 2000ms);
}

TEST(SocketWriteAll, APlainWriteThePeerNeverTakesTimesOut) {
  Pair p;
  p.ours.non_blocking(true);
  std::optional<TlsStream> no_tls;
  expectTimedOut(writeToAPeerThatNeverReads(p.io, p.ours, no_tls));
}

TEST(SocketWriteAll, ATlsWriteThePeerNeverTakesTimesOut) {
  const test::TempDir dir;
  const test::TestCa ca(dir.path());
  const test::TestCertificate leaf = ca.issue("relay", {"localhost"}, {"127.0.0.1"});
  asio::ssl::context server_context(asio::ssl::context::tls_server);
  server_context.use_certificate_chain_file(leaf.certificate.string());
  server_context.use_private_key_file(leaf.private_key.string(), asio::ssl::context::pem);
  asio::ssl::context client_context(asio::ssl::context::tls_client);
  client_context.set_verify_mode(asio::ssl::verify_none);

  Pair p;
  std::optional<TlsStream> tls;
  tls.emplace(std::move(p.ours), server_context);
  TlsStream peer(std::move(p.peer), client_context);
  // The peer completes the handshake on a thread of its own, then never reads.
  std::promise<void> finished;
  std::thread peer_thread([&peer, done = finished.get_future()] {
    std::error_code ec;
    peer.handshake(asio::ssl::stream_base::client, ec);
    done.wait();
  });
  tls->handshake(asio::ssl::stream_base::server);
  const Outcome out = writeToAPeerThatNeverReads(p.io, p.ours, tls);
  finished.set_value();
  peer_thread.join();
  expectTimedOut(out);
}

}  // namespace
}  // namespace relayguard::net
