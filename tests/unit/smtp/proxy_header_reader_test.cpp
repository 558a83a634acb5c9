// proxy_header_reader_test: reading a PROXY header from a real loopback connection: a header
// split over several writes is assembled, the client's bytes after it stay in the socket for
// the session (also when they arrive in the same segment), a malformed header and a closed
// connection are errors, and a header that never completes times out.
#include "core/smtp/proxy_header_reader.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include "tests/support/loopback_pair.hpp"
#include "tests/support/proxy_headers.hpp"

namespace relayguard::smtp {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

// A connected pair of loopback sockets: `client` plays the load balancer, `server` the relay.
class ProxyHeaderReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { test::connectLoopback(io_, client_, server_); }

  ProxyHeaderRead read(std::chrono::milliseconds timeout = 2s) {
    asio::steady_timer timer(io_);
    auto f = asio::co_spawn(io_, readProxyHeader(server_, timer, timeout), asio::use_future);
    io_.restart();
    io_.run();
    return f.get();
  }

  // What the server socket still holds (n bytes).
  std::string rest(std::size_t n) {
    std::string buf(n, '\0');
    asio::read(server_, asio::buffer(buf));
    return buf;
  }

  asio::io_context io_;
  tcp::socket client_{io_};
  tcp::socket server_{io_};
};

TEST_F(ProxyHeaderReaderTest, V1InOneSegmentLeavesTheClientBytes) {
  asio::write(client_,
              asio::buffer(std::string("PROXY TCP4 192.0.2.10 10.0.0.5 40000 25\r\nEHLO x\r\n")));
  const ProxyHeaderRead r = read();
  ASSERT_TRUE(r.header) << r.error;
  EXPECT_EQ(r.header->addresses->source.toString(), "192.0.2.10");
  EXPECT_EQ(rest(8), "EHLO x\r\n");
}

TEST_F(ProxyHeaderReaderTest, V2WithTlsRecordBehindIt) {
  const std::string hello = test::bytesOf({0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5});
  const std::string h = test::proxyV2(
      0x21, 0x11, test::bytesOf({198, 51, 100, 7, 10, 0, 0, 5, 0x9c, 0x40, 0, 25, 0x04, 0, 1, 0}));
  asio::write(client_, asio::buffer(h + hello));
  const ProxyHeaderRead r = read();
  ASSERT_TRUE(r.header) << r.error;
  EXPECT_EQ(r.header->version, 2);
  EXPECT_EQ(r.header->addresses->source.toString(), "198.51.100.7");
  EXPECT_EQ(rest(hello.size()), hello);
}

TEST_F(ProxyHeaderReaderTest, HeaderSplitOverWrites) {
  const std::string h = "PROXY TCP6 2001:db8::1 2001:db8::5 50000 587\r\n";
  std::thread writer([&] {
    for (std::size_t i = 0; i < h.size(); i += 7) {
      asio::write(client_, asio::buffer(h.substr(i, 7)));
      std::this_thread::sleep_for(5ms);
    }
    asio::write(client_, asio::buffer(std::string("QUIT\r\n")));
  });
  const ProxyHeaderRead r = read();
  writer.join();
  ASSERT_TRUE(r.header) << r.error;
  EXPECT_EQ(r.header->addresses->source.toString(), "2001:db8::1");
  EXPECT_EQ(rest(6), "QUIT\r\n");
}

TEST_F(ProxyHeaderReaderTest, MalformedIsAnError) {
  // Short, and the client then waits for a greeting: refused at once, not after the timeout.
  asio::write(client_, asio::buffer(std::string("EHLO x\r\n")));
  const ProxyHeaderRead r = read();
  EXPECT_FALSE(r.header);
  EXPECT_EQ(r.error, "not a PROXY protocol header");
  EXPECT_FALSE(r.silent);
}

TEST_F(ProxyHeaderReaderTest, ClosedConnection) {
  client_.close();
  ProxyHeaderRead r = read();
  EXPECT_FALSE(r.header);
  EXPECT_TRUE(r.silent);  // nothing sent at all: a plain TCP health check
}

TEST_F(ProxyHeaderReaderTest, ClosedHalfWay) {
  asio::write(client_, asio::buffer(std::string("PROXY TCP4 192.0.2.10 ")));
  client_.close();
  const ProxyHeaderRead r = read();
  EXPECT_FALSE(r.header);
  EXPECT_FALSE(r.silent);
  EXPECT_EQ(r.error, "closed before a complete PROXY header");
}

TEST_F(ProxyHeaderReaderTest, IncompleteHeaderTimesOut) {
  asio::write(client_, asio::buffer(std::string("PROXY TCP4 192.0.2.10 ")));
  const auto start = std::chrono::steady_clock::now();
  const ProxyHeaderRead r = read(300ms);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_FALSE(r.header);
  EXPECT_EQ(r.error, "no complete PROXY header within the time limit");
}

}  // namespace
}  // namespace relayguard::smtp
