// smtp_stream: plain and TLS I/O for inbound sessions (see smtp_stream.hpp).
#include "core/smtp/smtp_stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "core/net/socket_write.hpp"
#include "core/net/tls_context.hpp"

namespace relayguard::smtp {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16384;
constexpr int kReadsAtOnce = 16;

SmtpStream::Read readError(const std::error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    return SmtpStream::Read::kEof;
  }
  return ec == asio::error::operation_aborted ? SmtpStream::Read::kCancelled
                                              : SmtpStream::Read::kError;
}

// A wait that ended in `ec`: cancelled by the watchdog (`expired`) is a timeout, by anyone else
// (a shutdown) a cancellation.
SmtpStream::Read waitFailure(const std::error_code& ec, bool expired) {
  return expired && ec == asio::error::operation_aborted ? SmtpStream::Read::kTimeout
                                                         : readError(ec);
}

}  // namespace

SmtpStream::SmtpStream(asio::ip::tcp::socket socket)
    : plain_(std::move(socket)), watchdog_(plain_.get_executor(), plain_) {
  std::error_code ec;  // if this fails, every write takes the timed path
  plain_.non_blocking(true, ec);
}

std::string SmtpStream::tlsDescription() {
  return tls_ ? net::describeTls(tls_->native_handle()) : "none";
}

std::optional<SmtpStream::Read> SmtpStream::readAvailable(std::string& in) {
  char buf[kReadChunk];  // here, not in readSome's frame, which idle sessions keep
  std::error_code ec;    // the socket is non-blocking from its accept to its TLS upgrade
  const std::size_t n = plain_.read_some(asio::buffer(buf), ec);
  if (!ec) {
    in.append(buf, n);
    return Read::kOk;
  }
  if (net::wouldBlock(ec)) {
    return std::nullopt;
  }
  return readError(ec);
}

asio::awaitable<SmtpStream::Read> SmtpStream::readSome(std::string& in,
                                                       Clock::time_point deadline) {
  if (Clock::now() >= deadline) {
    co_return Read::kTimeout;
  }
  if (tls_) {
    const std::size_t old = in.size();
    in.resize(old + kReadChunk);
    const asio::mutable_buffer buf(in.data() + old, kReadChunk);
    watchdog_.watchUntil(deadline);
    const auto [ec, n] = co_await tls_->async_read_some(buf, kUseTuple);
    const bool expired = watchdog_.done();
    in.resize(old + n);
    co_return (ec && n == 0) ? waitFailure(ec, expired) : Read::kOk;
  }
  // Bytes already there (the rest of a message that arrives in several segments, commands sent
  // ahead) are read at once, without a wait; after kReadsAtOnce such reads the session lets the
  // other sessions of its thread have a turn.
  if (reads_at_once_ == kReadsAtOnce) {
    // A wait on a readable socket completes at once, ahead of every other handler: go to the
    // back of the queue first.
    reads_at_once_ = 0;
    co_await asio::post(plain_.get_executor(), asio::use_awaitable);
  }
  ++reads_at_once_;
  if (const auto read = readAvailable(in)) {
    co_return *read;
  }
  reads_at_once_ = 0;
  watchdog_.watchUntil(deadline);
  const auto [ec] = co_await plain_.async_wait(asio::ip::tcp::socket::wait_read, kUseTuple);
  const bool expired = watchdog_.done();
  if (ec) {
    co_return waitFailure(ec, expired);
  }
  // Nothing there after all (a spurious wake-up): kOk with nothing appended, and the caller loops.
  co_return readAvailable(in).value_or(Read::kOk);
}

asio::awaitable<net::WriteResult> SmtpStream::writeAll(std::string_view data,
                                                       Clock::duration timeout) {
  return net::writeAll(plain_, tls_, watchdog_, data, timeout);  // no coroutine frame of its own
}

asio::awaitable<std::optional<std::string>> SmtpStream::startTls(
    std::shared_ptr<asio::ssl::context> context, Clock::duration timeout) {
  if (tls_) {
    co_return std::string("TLS is already active");
  }
  context_ = std::move(context);
  std::error_code ec;
  plain_.non_blocking(false, ec);  // the TLS stream drives the socket through Asio's reactor
  tls_.emplace(std::move(plain_), *context_);
  watchdog_.retarget(tls_->next_layer());
  watchdog_.watchUntil(Clock::now() + timeout);
  const auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (watchdog_.done()) {
    co_return std::string("handshake timed out");
  }
  if (hec) {
    co_return hec.message();
  }
  co_return std::nullopt;
}

void SmtpStream::cancel() {
  std::error_code ec;
  socket().cancel(ec);
}

void SmtpStream::close() {
  std::error_code ec;
  socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

}  // namespace relayguard::smtp
