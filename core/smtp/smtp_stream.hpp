// smtp_stream: the byte stream under an inbound SMTP session: a plain TCP socket that can be
// upgraded in place to TLS (STARTTLS, RFC 3207) or starts with TLS (implicit TLS, RFC 8314).
//
// The upgrade moves the connected socket into an asio::ssl::stream; after it every read and
// write goes through TLS. Every operation is bounded in time and reports timeouts and
// cancellations (shutdown) as values, never exceptions. Plain reads wait for readability without
// a buffer and then read into the caller's buffer, so idle plain sessions hold no read buffer;
// TLS reads go through OpenSSL, which may hold decrypted bytes the socket no longer shows as
// readable.
//
// Every wait (a read, a write the send buffer does not take at once, the TLS handshake) is bounded
// by one watchdog per connection (net/io_watchdog.hpp) rather than by a timer raced against it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include "core/net/io_watchdog.hpp"
#include "core/net/socket_write.hpp"

namespace relayguard::smtp {

class SmtpStream {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Read { kOk, kEof, kTimeout, kError, kCancelled };

  // The plain socket is put in non-blocking mode (reads and writes without waiting).
  explicit SmtpStream(asio::ip::tcp::socket socket);
  SmtpStream(const SmtpStream&) = delete;  // the watchdog points at the socket
  SmtpStream& operator=(const SmtpStream&) = delete;

  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  const asio::ip::tcp::socket& socket() const { return tls_ ? tls_->next_layer() : plain_; }
  bool secure() const { return tls_.has_value(); }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", or "none".
  std::string tlsDescription();

  // Appends what arrives (kOk may append nothing after a spurious wake-up) to `in`, waiting
  // until `deadline`.
  asio::awaitable<Read> readSome(std::string& in, Clock::time_point deadline);
  // Writes all of `data` within `timeout` (net/socket_write.hpp).
  asio::awaitable<net::WriteResult> writeAll(std::string_view data, Clock::duration timeout);
  // The server side of a TLS handshake within `timeout`; the socket becomes the TLS stream's.
  // The error text on failure, nullopt on success. Call at most once.
  asio::awaitable<std::optional<std::string>> startTls(std::shared_ptr<asio::ssl::context> context,
                                                       Clock::duration timeout);
  // Cancels pending operations (from the session's strand).
  void cancel();
  void close();

 private:
  asio::ip::tcp::socket plain_;
  std::shared_ptr<asio::ssl::context> context_;  // kept alive for the TLS stream
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  int reads_at_once_ = 0;  // plain reads in a row that found bytes without waiting
  // Reads what the plain socket holds now: kOk with bytes appended, nullopt if it holds none,
  // or how the connection ended.
  std::optional<Read> readAvailable(std::string& in);

  net::IoWatchdog watchdog_;  // bounds every wait
};

}  // namespace relayguard::smtp
