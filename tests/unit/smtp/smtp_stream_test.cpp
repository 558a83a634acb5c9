// smtp_stream_test: the plain stream of an inbound session on a real loopback connection. Bytes
// already in the socket are read at once, without a turn through the event loop, but never more
// than a bounded number of times in a row: a client that keeps the socket full cannot keep the
// other sessions of its I/O thread waiting. A reply is written whole.
#include "core/smtp/smtp_stream.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include "tests/support/loopback_pair.hpp"

namespace relayguard::smtp {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

class SmtpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::socket accepted(io_);
    test::connectLoopback(io_, client_, accepted, [](tcp::acceptor& a) {
      a.set_option(tcp::socket::receive_buffer_size(4 << 20));  // room for the whole test
    });
    stream_.emplace(std::move(accepted));
  }

  asio::io_context io_;
  tcp::socket client_{io_};
  std::optional<SmtpStream> stream_;
};

TEST_F(SmtpStreamTest, WaitingBytesAreReadAtOnceButNotForeverInARow) {
  const std::string sent(1 << 20, 'x');  // 64 reads of 16 KiB, all in the socket before the first
  asio::write(client_, asio::buffer(sent));
  client_.shutdown(tcp::socket::shutdown_send);

  // Another session of the same thread: it counts its turns.
  int turns = 0;
  bool reading = true;
  std::function<void()> other = [&] {
    ++turns;
    if (reading) {
      asio::post(io_, other);
    }
  };
  asio::post(io_, other);

  std::string in;
  int reads = 0;
  int in_a_row = 0;
  int most_in_a_row = 0;
  int turns_seen = 0;
  asio::steady_timer timer(io_);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        for (;;) {
          const auto r = co_await stream_->readSome(in, timer, SmtpStream::Clock::now() + 10s);
          if (r != SmtpStream::Read::kOk) {
            EXPECT_EQ(r, SmtpStream::Read::kEof);
            break;
          }
          ++reads;
          in_a_row = turns == turns_seen ? in_a_row + 1 : 1;
          turns_seen = turns;
          most_in_a_row = std::max(most_in_a_row, in_a_row);
        }
        reading = false;
      },
      asio::detached);
  io_.run();

  EXPECT_EQ(in, sent);
  EXPECT_GE(reads, 64);
  EXPECT_GT(most_in_a_row, 4) << "bytes in the socket were not read without a turn";
  EXPECT_LE(most_in_a_row, 17) << "one session read on while the other waited";
}

TEST_F(SmtpStreamTest, AReplyIsWrittenWhole) {
  const std::string reply = "250 2.0.0 Ok\r\n";
  asio::steady_timer timer(io_);
  bool ok = false;
  asio::co_spawn(
      io_, [&]() -> asio::awaitable<void> { ok = co_await stream_->writeAll(reply, timer, 5s); },
      asio::detached);
  io_.run();
  EXPECT_TRUE(ok);
  std::string got(reply.size(), '\0');
  asio::read(client_, asio::buffer(got));
  EXPECT_EQ(got, reply);
}

}  // namespace
}  // namespace relayguard::smtp
