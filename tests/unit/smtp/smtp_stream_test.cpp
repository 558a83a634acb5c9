// smtp_stream_test: the plain stream of an inbound session on a real loopback connection. Bytes
// already in the socket are read at once, without a turn through the event loop, but never more
// than a bounded number of times in a row: a client that keeps the socket full cannot keep the
// other sessions of its I/O thread waiting. A read that has to wait ends at its deadline (the
// watchdog's), a later or an earlier one, or when cancelled. A reply is written whole, one
// larger than the socket takes follows as the client reads, and a write the client never takes
// times out.
#include "core/smtp/smtp_stream.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        for (;;) {
          const auto r = co_await stream_->readSome(in, SmtpStream::Clock::now() + 10s);
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
        stream_.reset();  // a session's stream goes when it ends, and its watchdog with it
      },
      asio::detached);
  io_.run();

  EXPECT_EQ(in, sent);
  EXPECT_GE(reads, 64);
  EXPECT_GT(most_in_a_row, 4) << "bytes in the socket were not read without a turn";
  EXPECT_LE(most_in_a_row, 17) << "one session read on while the other waited";
}

// Reads `reads` (deadline offsets from the call, and milliseconds after the call at which the
// client sends a line, or -1 for never) one after the other; the result and duration of each.
struct TimedRead {
  std::chrono::milliseconds deadline;
  int send_after_ms;
};
struct ReadOutcome {
  SmtpStream::Read result;
  std::chrono::milliseconds took;
};

class SmtpStreamWatchdogTest : public SmtpStreamTest {
 protected:
  std::vector<ReadOutcome> run(const std::vector<TimedRead>& reads) {
    std::vector<ReadOutcome> out;
    asio::steady_timer send(io_);
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          for (const TimedRead& r : reads) {
            if (r.send_after_ms >= 0) {
              send.expires_after(std::chrono::milliseconds(r.send_after_ms));
              send.async_wait([this](const std::error_code& ec) {
                if (!ec) {
                  asio::write(client_, asio::buffer(std::string("NOOP\r\n")));
                }
              });
            }
            std::string in;
            const auto started = SmtpStream::Clock::now();
            SmtpStream::Read result = SmtpStream::Read::kOk;
            while (result == SmtpStream::Read::kOk && in.empty()) {
              result = co_await stream_->readSome(in, started + r.deadline);
            }
            out.push_back({result, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       SmtpStream::Clock::now() - started)});
          }
          stream_.reset();
        },
        asio::detached);
    io_.run();
    return out;
  }
};

// Every read but the last got its line; the last timed out after [at_least, less_than).
void expectLastTimedOut(const std::vector<ReadOutcome>& out, std::size_t reads,
                        std::chrono::milliseconds at_least, std::chrono::milliseconds less_than) {
  ASSERT_EQ(out.size(), reads);
  for (std::size_t i = 0; i + 1 < reads; ++i) {
    EXPECT_EQ(out[i].result, SmtpStream::Read::kOk) << "read " << i;
  }
  EXPECT_EQ(out.back().result, SmtpStream::Read::kTimeout);
  EXPECT_GE(out.back().took, at_least);
  EXPECT_LT(out.back().took, less_than);
}

TEST_F(SmtpStreamWatchdogTest, AReadWithNothingToReadEndsAtItsDeadline) {
  expectLastTimedOut(run({{150ms, -1}}), 1, 140ms, 1000ms);
}

TEST_F(SmtpStreamWatchdogTest, LaterReadsGetTheirOwnLaterDeadline) {
  // The watchdog was armed for the first read's deadline (200 ms); the second read, started
  // about 50 ms in, has until 450 ms after its start: past the first deadline it is still
  // waiting, and it ends at its own.
  expectLastTimedOut(run({{200ms, 50}, {450ms, -1}}), 2, 440ms, 1300ms);
}

TEST_F(SmtpStreamWatchdogTest, AnEarlierDeadlineIsKept) {
  // Armed for 10 s by the first read; the second read's deadline (150 ms) comes first.
  expectLastTimedOut(run({{10s, 20}, {150ms, -1}}), 2, 140ms, 1000ms);
}

TEST_F(SmtpStreamWatchdogTest, DataBeforeTheDeadlineIsRead) {
  const auto out = run({{1s, 100}, {1s, 100}});
  ASSERT_EQ(out.size(), 2U);
  for (const ReadOutcome& o : out) {
    EXPECT_EQ(o.result, SmtpStream::Read::kOk);
    EXPECT_GE(o.took, 90ms);
    EXPECT_LT(o.took, 900ms);
  }
}

TEST_F(SmtpStreamWatchdogTest, ACancelledReadIsNotATimeout) {
  asio::steady_timer cancel(io_);
  cancel.expires_after(50ms);
  cancel.async_wait([this](const std::error_code&) { stream_->cancel(); });
  std::optional<SmtpStream::Read> result;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        std::string in;
        result = co_await stream_->readSome(in, SmtpStream::Clock::now() + 10s);
        stream_.reset();
      },
      asio::detached);
  io_.run();
  EXPECT_EQ(result, SmtpStream::Read::kCancelled);
}

// writeAll() of `data` within `timeout`, while the client reads all it gets from `read_after` on
// (never when negative); whether writeAll() succeeded, what the client got, and how long it took.
struct WriteOutcome {
  bool ok = false;
  std::string got;
  std::chrono::milliseconds took{};
};

class SmtpStreamWriteTest : public SmtpStreamTest {
 protected:
  WriteOutcome write(const std::string& data, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds read_after) {
    WriteOutcome out;
    std::thread reader([&] {
      if (read_after.count() < 0) {
        return;
      }
      std::this_thread::sleep_for(read_after);
      std::error_code ec;
      asio::read(client_, asio::dynamic_buffer(out.got), ec);  // until the stream closes
    });
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          const auto started = SmtpStream::Clock::now();
          out.ok = (co_await stream_->writeAll(data, timeout)).ok();
          out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
              SmtpStream::Clock::now() - started);
          stream_->close();
        },
        asio::detached);
    io_.run();
    reader.join();
    return out;
  }
};

TEST_F(SmtpStreamWriteTest, AReplyIsWrittenWhole) {
  const std::string reply = "250 2.0.0 Ok\r\n";
  const WriteOutcome out = write(reply, 5s, 0ms);
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.got, reply);
}

// More than the socket takes at once: the rest goes out as the client reads, within the timeout.
TEST_F(SmtpStreamWriteTest, WhatTheSocketDoesNotTakeAtOnceFollows) {
  std::string big;
  for (int i = 0; big.size() < (16 << 20); ++i) {
    big += "250-line " + std::to_string(i) + "\r\n";
  }
  const WriteOutcome out = write(big, 10s, 100ms);
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.got.size(), big.size());
  EXPECT_TRUE(out.got == big);
  EXPECT_GE(out.took, 90ms) << "the socket took 16 MiB at once: the test shows nothing";
}

// A client that never reads cannot hold the write past its timeout.
TEST_F(SmtpStreamWriteTest, AWriteTheClientNeverTakesTimesOut) {
  const WriteOutcome out = write(std::string(16 << 20, 'x'), 200ms, -1ms);
  EXPECT_FALSE(out.ok);
  EXPECT_GE(out.took, 190ms);
  EXPECT_LT(out.took, 2000ms);
}

}  // namespace
}  // namespace relayguard::smtp
