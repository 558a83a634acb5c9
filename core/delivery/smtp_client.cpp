// smtp_client: the outbound SMTP client (see smtp_client.hpp): connection set-up under
// deadlines, reading bounded (multi-line) replies, the MAIL/RCPT/DATA transaction with
// dot-stuffing, and the per-endpoint pool of idle connections.
//
// Deadlines: every wait on a connection's socket (connect, TLS handshake, a write the send buffer
// does not take at once, a read of a reply) is bounded by the connection's watchdog
// (net/io_watchdog.hpp), which cancels it once its deadline has passed; a connection whose
// operation timed out is never used again. Host names are resolved on asio's resolver thread;
// because a running getaddrinfo cannot be cancelled, its result arrives through a channel that
// the caller waits on, raced against a timer (awaitable_operators `||`), under the connect
// deadline.
//
// Pool: connections are owned by exactly one party at a time (the deliver() coroutine using it,
// or the pool under its mutex), so a socket is never touched by two threads at once. Every idle
// connection has an expiry timer living on the pool's strand; taking the connection cancels it,
// expiry QUITs and closes it.
//
// g++ 12 miscompiles a co_await inside an if/while condition (the coroutine is resumed in an
// invalid state), so results are always stored in a variable before they are tested.
#include "core/delivery/smtp_client.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <tuple>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "core/net/io_watchdog.hpp"
#include "core/net/socket_write.hpp"
#include "core/util/base64.hpp"
#include "core/util/log_event.hpp"
#include "core/util/secret.hpp"
#include "core/util/strings.hpp"

namespace relayguard::delivery {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// A hostile or broken server must not make us allocate without limit.
constexpr std::size_t kMaxReplyLine = 4096;  // octets of one reply line, CRLF excluded
constexpr std::size_t kMaxReplyLines = 100;
constexpr std::size_t kMaxReplyText = 2048;  // what we keep of a remote reply's text
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kDataChunk = 64 * 1024;  // message bytes per write
constexpr std::size_t kPipelineGroup = 100;    // RCPT commands per pipelined write
// QUIT is a courtesy and RSET on a reused connection a liveness probe: neither may hold a
// delivery for long (Postfix: smtp_quit_timeout, smtp_rset_timeout).
constexpr Clock::duration kMaxQuitWait = std::chrono::seconds(5);
constexpr Clock::duration kMaxRsetWait = std::chrono::seconds(20);

std::string formatDuration(Clock::duration d) {
  return fmt::format("{:g}s", std::chrono::duration<double>(d).count());
}

// Runs `operation` against a timer; nullopt when the timer fired first (the operation is then
// cancelled and has completed before this returns).
template <typename T>
asio::awaitable<std::optional<T>> withTimeout(asio::awaitable<T> operation,
                                              Clock::duration timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto result = co_await (std::move(operation) || timer.async_wait(kAsTuple));
  if (result.index() == 0) {
    co_return std::move(std::get<0>(result));
  }
  co_return std::nullopt;
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// Remote text ends up in logs and bounce messages: keep printable ASCII (and UTF-8 bytes), never
// control characters.
std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxReplyText));
  for (const char c : text) {
    if (out.size() >= kMaxReplyText) {
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

// Length of an RFC 3463 enhanced status code ("5.1.1") at the start of text whose class matches
// the reply code, or 0.
std::size_t enhancedCodeLength(std::string_view text, int code) {
  if (text.size() < 5 || !isDigit(text[0]) || text[0] - '0' != code / 100 || text[1] != '.') {
    return 0;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t begin = i;
    while (i < text.size() && isDigit(text[i]) && i - begin < 3) {
      ++i;
    }
    if (i == begin) {
      return 0;
    }
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') {
        return 0;
      }
      ++i;
    }
  }
  return (i == text.size() || text[i] == ' ') ? i : 0;
}

// A reply as read from the server: the code and the text of every line.
struct ServerReply {
  int code = 0;
  std::vector<std::string> lines;

  smtp::Reply toReply() const {
    smtp::Reply reply;
    reply.code = code;
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string_view line = lines[i];
      const std::size_t enhanced = enhancedCodeLength(line, code);
      if (i == 0 && enhanced > 0) {
        reply.enhanced = std::string(line.substr(0, enhanced));
      }
      if (enhanced > 0) {
        line.remove_prefix(std::min(enhanced + 1, line.size()));
      }
      if (!text.empty() && !line.empty()) {
        text += ' ';
      }
      text += line;
    }
    reply.text = sanitize(text);
    return reply;
  }
};

struct Extensions {
  bool size = false;
  bool pipelining = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool starttls = false;
  std::vector<std::string> auth;  // SASL mechanisms offered, as the server wrote them
};

Extensions parseEhlo(const ServerReply& reply) {
  Extensions ext;
  // The first line is the server's greeting; every further line starts with a keyword.
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const std::string_view line = reply.lines[i];
    const std::string keyword = toLower(line.substr(0, line.find(' ')));
    if (keyword == "size") {
      ext.size = true;
    } else if (keyword == "pipelining") {
      ext.pipelining = true;
    } else if (keyword == "8bitmime") {
      ext.eight_bit_mime = true;
    } else if (keyword == "smtputf8") {
      ext.smtputf8 = true;
    } else if (keyword == "starttls") {
      ext.starttls = true;
    } else if (keyword == "auth" || keyword.starts_with("auth=")) {
      // "AUTH PLAIN LOGIN", or the pre-RFC 4954 form "AUTH=PLAIN LOGIN" some servers still send.
      // A bare "AUTH" (no mechanisms) is possible from a hostile or broken server.
      const std::string_view mechanisms =
          line.size() > 5 ? std::string_view(line).substr(5) : std::string_view();
      for (const auto mechanism : splitWhitespace(mechanisms)) {
        ext.auth.emplace_back(mechanism);
      }
    }
  }
  return ext;
}

// Command arguments come from our own strict parsers; refuse anything that could end a command
// line early or smuggle a second one anyway.
bool safeArgument(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Produces the DATA payload chunk by chunk: line ends normalised to CRLF (a bare CR or LF becomes
// CRLF, so no next hop can read an early end of data into it), a dot doubled at the start of
// every line, a final CRLF added when missing, then the ".\r\n" end marker.
class DotStuffer {
 public:
  explicit DotStuffer(std::string_view data) : data_(data) {}

  bool done() const { return done_; }
  // How much of the data the chunks so far have taken.
  std::size_t position() const { return pos_; }

  // Replaces out with the next chunk of about `limit` octets.
  void next(std::string& out, std::size_t limit) {
    out.clear();
    while (pos_ < data_.size() && out.size() < limit) {
      // Whole lines that need nothing done go in one piece (a stored message has CRLF line ends).
      if (pos_ >= retry_at_) {
        const std::size_t window = pos_ + std::min(limit - out.size(), data_.size() - pos_);
        const PlainRun run =
            plainLines(data_.substr(0, window), pos_, {.at_line_start = at_line_start_});
        retry_at_ = run.retry_at;
        if (run.end > pos_) {
          out.append(data_.substr(pos_, run.end - pos_));
          pos_ = run.end;
          at_line_start_ = true;
          continue;
        }
      }
      if (at_line_start_ && data_[pos_] == '.') {
        out += '.';
      }
      at_line_start_ = false;
      const std::size_t end = std::min(findFirstOf(data_, pos_, "\r\n"), data_.size());
      const std::size_t run = std::min(end - pos_, limit - std::min(limit, out.size()));
      out.append(data_.substr(pos_, run));
      pos_ += run;
      if (pos_ == end && pos_ < data_.size()) {
        const bool crlf = data_[pos_] == '\r' && pos_ + 1 < data_.size() && data_[pos_ + 1] == '\n';
        pos_ += crlf ? 2 : 1;
        out += "\r\n";
        at_line_start_ = true;
      }
    }
    if (pos_ >= data_.size()) {
      if (!at_line_start_) {
        out += "\r\n";
      }
      out += ".\r\n";
      done_ = true;
    }
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  std::size_t retry_at_ = 0;  // where a run of plain lines can begin again (see plainLines)
  bool at_line_start_ = true;
  bool done_ = false;
};

// One TCP connection to a server, plaintext or (after startTls) TLS. Failures are recorded in
// failure() and mark it broken.
class Connection {
 public:
  Connection(const asio::any_io_executor& executor, std::string remote)
      : socket_(executor), watchdog_(executor, socket_), remote_(std::move(remote)) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& remote() const { return remote_; }
  const std::string& failure() const { return failure_; }
  bool broken() const { return broken_; }
  const Extensions& extensions() const { return extensions_; }
  void setExtensions(const Extensions& ext) { extensions_ = ext; }
  bool encrypted() const { return tls_.has_value(); }
  bool verified() const { return verified_; }
  // Octets received and not yet consumed: after a 220 to STARTTLS there must be none, or the
  // server (or someone in the path) injected plaintext that would be read as TLS-protected.
  bool hasBufferedInput() const { return !inbuf_.empty(); }

  // Runs the TLS client handshake on the connected socket, within `timeout`. With `verify`,
  // the certificate must chain to the context's trusted CAs and carry `name`.
  asio::awaitable<bool> startTls(asio::ssl::context& context, const std::string& name, bool verify,
                                 Clock::duration timeout) {
    std::error_code blocking;
    socket_.non_blocking(false, blocking);  // the TLS stream drives the socket through Asio
    tls_.emplace(std::move(socket_), context);
    watchdog_.retarget(tls_->next_layer());
    SSL* ssl = tls_->native_handle();
    std::error_code ec;
    const auto literal = asio::ip::make_address(name, ec);
    if (ec) {
      // SNI takes names only (RFC 6066 3). SSL_set_tlsext_host_name() spelled out: the macro
      // has an old-style cast.
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));
    }
    if (verify) {
      // OpenSSL's own name check (RFC 6125: subjectAltName only, no partial wildcards), so a
      // mismatch shows in the verify result as "hostname mismatch".
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int named = ec ? X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size())
                           : X509_VERIFY_PARAM_set1_ip_asc(param, literal.to_string().c_str());
      if (named != 1) {
        co_return fail("cannot set the certificate name to check: '" + name + "'");
      }
      tls_->set_verify_mode(asio::ssl::verify_peer);
    } else {
      tls_->set_verify_mode(asio::ssl::verify_none);
    }
    watchdog_.watchUntil(Clock::now() + timeout);
    const auto [error] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kAsTuple);
    if (watchdog_.done()) {
      co_return fail("TLS handshake timed out after " + formatDuration(timeout));
    }
    if (error) {
      const long verify_result = SSL_get_verify_result(ssl);
      if (verify && verify_result != X509_V_OK) {
        co_return fail(fmt::format("TLS handshake failed: certificate not trusted for '{}': {}",
                                   name, X509_verify_cert_error_string(verify_result)));
      }
      co_return fail("TLS handshake failed: " + error.message());
    }
    verified_ = verify;
    co_return true;
  }

  // "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs.
  std::string tlsDescription() const {
    if (!tls_) {
      return "plaintext";
    }
    SSL* ssl = const_cast<asio::ssl::stream<tcp::socket>&>(*tls_).native_handle();
    return fmt::format("{} {}", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
  }

  // Resolves the host (unless it is an IP literal) and connects to the first address that
  // answers, all within `timeout`.
  asio::awaitable<bool> connect(const net::Endpoint& endpoint, Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    std::vector<tcp::endpoint> targets;
    std::error_code ec;
    const auto literal = asio::ip::make_address(endpoint.host, ec);
    if (!ec) {
      targets.emplace_back(literal, endpoint.port);
    } else {
      const bool resolved = co_await resolve(endpoint, timeout, targets);
      if (!resolved) {
        co_return false;
      }
    }
    std::string last_error = "no address";
    for (const auto& target : targets) {
      if (Clock::now() >= deadline) {
        co_return fail("timed out after " + formatDuration(timeout));
      }
      std::error_code ignored;
      socket_.close(ignored);
      watchdog_.watchUntil(deadline);
      const auto [error] = co_await socket_.async_connect(target, kAsTuple);
      if (watchdog_.done()) {
        co_return fail("timed out after " + formatDuration(timeout));
      }
      if (!error) {
        socket_.set_option(tcp::no_delay(true), ignored);
        socket_.non_blocking(true, ignored);  // for send()'s writes without waiting
        co_return true;
      }
      last_error = fmt::format("{}: {}", target.address().to_string(), error.message());
      log::debug("smtp_connect_failed", {{"relay", remote_},
                                         {"address", target.address().to_string()},
                                         {"error", error.message()}});
    }
    co_return fail(last_error);
  }

  asio::awaitable<bool> send(std::string_view bytes, Clock::duration timeout) {
    const net::WriteResult written =
        co_await net::writeAll(socket_, tls_, watchdog_, bytes, timeout);
    if (written.timed_out) {
      co_return fail("timed out after " + formatDuration(timeout) + " sending");
    }
    if (written.error) {
      co_return fail("write failed: " + written.error.message());
    }
    co_return true;
  }

  // Reads one complete (possibly multi-line) reply within `timeout`.
  asio::awaitable<std::optional<ServerReply>> readReply(Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    ServerReply reply;
    for (;;) {
      const auto newline = inbuf_.find('\n');
      if (newline == std::string::npos) {
        // Without a line end, more than kMaxReplyLine octets plus a CR cannot be a valid line.
        if (inbuf_.size() > kMaxReplyLine + 1) {
          co_return failReply(fmt::format("reply line longer than {} octets", kMaxReplyLine));
        }
        if (Clock::now() >= deadline) {
          co_return failReply(timeoutText(timeout));
        }
        const auto buffer = asio::buffer(read_buffer_);
        watchdog_.watchUntil(deadline);
        // g++ 12 mis-compiles co_await inside a condition: one statement per read.
        std::error_code error;
        std::size_t n = 0;
        if (tls_) {
          std::tie(error, n) = co_await tls_->async_read_some(buffer, kAsTuple);
        } else {
          std::tie(error, n) = co_await socket_.async_read_some(buffer, kAsTuple);
        }
        const bool expired = watchdog_.done();
        if (expired && error == asio::error::operation_aborted) {
          co_return failReply(timeoutText(timeout));
        }
        if (error) {
          co_return failReply(error == asio::error::eof ? std::string("connection closed by server")
                                                        : "read failed: " + error.message());
        }
        inbuf_.append(read_buffer_.data(), n);
        continue;
      }
      std::string_view line(inbuf_.data(), newline);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (line.size() > kMaxReplyLine) {
        co_return failReply(fmt::format("reply line longer than {} octets", kMaxReplyLine));
      }
      if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) ||
          line[0] < '2' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        co_return failReply("malformed reply line: " + sanitize(line.substr(0, 80)));
      }
      const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
      if (!reply.lines.empty() && code != reply.code) {
        co_return failReply("reply code changed within a multi-line reply");
      }
      if (reply.lines.size() == kMaxReplyLines) {
        co_return failReply(fmt::format("reply longer than {} lines", kMaxReplyLines));
      }
      reply.code = code;
      const bool last = line.size() == 3 || line[3] == ' ';
      reply.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
      inbuf_.erase(0, newline + 1);
      if (last) {
        co_return reply;
      }
    }
  }

  // Sends one command line (CRLF added) and reads its reply.
  asio::awaitable<std::optional<ServerReply>> command(std::string line, Clock::duration timeout) {
    line += "\r\n";
    const bool sent = co_await send(line, timeout);
    if (!sent) {
      co_return std::nullopt;
    }
    co_return co_await readReply(timeout);
  }

  // Polite close: QUIT (unless broken), a short wait for its reply, then close.
  asio::awaitable<void> quit(Clock::duration timeout) {
    if (!broken_ && lowest().is_open()) {
      const auto wait = std::min(timeout, kMaxQuitWait);
      const bool sent = co_await send("QUIT\r\n", wait);
      if (sent) {
        co_await readReply(wait);
      }
    }
    close();
  }

  // Cheap check before reusing an idle connection: false when the server has closed it or sent
  // something unasked (typically a 421 before closing).
  bool looksIdle() {
    if (broken_ || !lowest().is_open() || !inbuf_.empty() ||
        (tls_ && SSL_pending(tls_->native_handle()) > 0)) {
      return false;
    }
    // Over TLS any pending record (an alert, close_notify) also means "not idle".
    char byte = 0;
    const auto n = ::recv(lowest().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // A reused connection's RSET (the liveness probe) goes in front of the next MAIL, in the same
  // write: probePending() until transact() has sent it. stale() once its reply (or the write)
  // failed: the connection was dead, and nothing was transacted on it.
  void deferProbe() { probe_pending_ = true; }
  bool probePending() const { return probe_pending_; }
  bool stale() const { return stale_; }
  // The probe's outcome, read by transact() right after the write that carried it.
  asio::awaitable<bool> probed(bool sent, Clock::duration timeout) {
    probe_pending_ = false;
    if (sent) {
      const auto reply = co_await readReply(std::min(timeout, kMaxRsetWait));
      stale_ = !reply || reply->code / 100 != 2;
    } else {
      stale_ = true;
    }
    co_return !stale_;
  }

  void close() {
    std::error_code ignored;
    tcp::socket& socket = lowest();
    if (socket.is_open()) {
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }
  }

 private:
  using ResolveChannel =
      asio::experimental::concurrent_channel<void(std::error_code, tcp::resolver::results_type)>;

  asio::awaitable<bool> resolve(const net::Endpoint& endpoint, Clock::duration timeout,
                                std::vector<tcp::endpoint>& targets) {
    const auto executor = co_await asio::this_coro::executor;
    auto channel = std::make_shared<ResolveChannel>(executor, 1);
    auto resolver = std::make_shared<tcp::resolver>(executor);
    // The handler keeps the resolver and the channel alive; if we stop waiting, the lookup
    // finishes on its own and its result is dropped.
    resolver->async_resolve(
        endpoint.host, std::to_string(endpoint.port), tcp::resolver::numeric_service,
        [channel, resolver](std::error_code error, tcp::resolver::results_type results) {
          channel->try_send(error, std::move(results));
        });
    const auto result = co_await withTimeout(channel->async_receive(kAsTuple), timeout);
    if (!result) {
      co_return fail("timed out after " + formatDuration(timeout) + " resolving " + endpoint.host);
    }
    const auto& [error, results] = *result;
    if (error) {
      co_return fail("cannot resolve " + endpoint.host + ": " + error.message());
    }
    for (const auto& entry : results) {
      targets.push_back(entry.endpoint());
    }
    if (targets.empty()) {
      co_return fail("no address for " + endpoint.host);
    }
    co_return true;
  }

  static std::string timeoutText(Clock::duration timeout) {
    return "timed out after " + formatDuration(timeout) + " waiting for a reply";
  }

  bool fail(std::string what) {
    failure_ = std::move(what);
    broken_ = true;
    return false;
  }

  std::optional<ServerReply> failReply(std::string what) {
    fail(std::move(what));
    return std::nullopt;
  }

  // The TCP socket: socket_ until startTls() moves it into tls_.
  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

  tcp::socket socket_;
  net::IoWatchdog watchdog_;  // bounds every wait on the socket (connect, handshake, I/O)
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  bool verified_ = false;
  std::string remote_;
  std::string inbuf_;  // received octets not yet consumed as reply lines
  std::array<char, kReadChunk> read_buffer_{};
  std::string failure_;
  bool broken_ = false;
  bool probe_pending_ = false;
  bool stale_ = false;
  Extensions extensions_;
};

// Idle connections per endpoint ("host:port"), newest last, each with an expiry timer.
class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  ConnectionPool(asio::any_io_executor executor, const ClientSettings& settings)
      : strand_(asio::make_strand(std::move(executor))),
        idle_time_(settings.idle_reuse),
        max_per_endpoint_(settings.max_idle_per_endpoint),
        quit_timeout_(settings.command_timeout) {}

  // The newest idle connection for key that has not expired, or nullptr.
  std::unique_ptr<Connection> take(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto it = idle_.find(key);
    if (it == idle_.end() || it->second.empty()) {
      return nullptr;
    }
    // The newest has been idle the shortest time: if it has expired, all have; their expiry
    // coroutines are about to close them.
    Entry& newest = it->second.back();
    if (Clock::now() - newest.idle_since >= idle_time_) {
      return nullptr;
    }
    auto connection = std::move(newest.connection);
    cancel(newest.timer);
    it->second.pop_back();
    if (it->second.empty()) {
      idle_.erase(it);
    }
    return connection;
  }

  // Keeps a healthy connection for reuse; hands it back when the pool is full or closed.
  std::unique_ptr<Connection> put(const std::string& key, std::unique_ptr<Connection> connection) {
    if (max_per_endpoint_ == 0 || idle_time_ <= Clock::duration::zero()) {
      return connection;
    }
    std::lock_guard lock(mutex_);
    auto& entries = idle_[key];
    if (closed_ || entries.size() >= max_per_endpoint_) {
      if (entries.empty()) {
        idle_.erase(key);
      }
      return connection;
    }
    auto timer = std::make_shared<asio::steady_timer>(strand_, idle_time_);
    const std::uint64_t id = next_id_++;
    entries.push_back(Entry{id, std::move(connection), timer, Clock::now()});
    // Spawned under the lock: its start is queued on the strand before any cancel() can be.
    asio::co_spawn(strand_, expire(shared_from_this(), key, id, std::move(timer)), asio::detached);
    return nullptr;
  }

  std::vector<std::unique_ptr<Connection>> takeAll() {
    std::vector<std::unique_ptr<Connection>> all;
    std::lock_guard lock(mutex_);
    for (auto& [key, entries] : idle_) {
      for (auto& entry : entries) {
        cancel(entry.timer);
        all.push_back(std::move(entry.connection));
      }
    }
    idle_.clear();
    return all;
  }

  // For the client's destructor: refuse further connections, close the idle ones at once (no
  // QUIT: there is no coroutine to wait for the reply).
  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    for (auto& connection : takeAll()) {
      connection->close();
    }
  }

 private:
  struct Entry {
    std::uint64_t id = 0;
    std::unique_ptr<Connection> connection;
    std::shared_ptr<asio::steady_timer> timer;
    Clock::time_point idle_since;
  };

  // Timers are only touched on the strand.
  void cancel(const std::shared_ptr<asio::steady_timer>& timer) {
    asio::post(strand_, [timer] { timer->cancel(); });
  }

  std::unique_ptr<Connection> remove(const std::string& key, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto it = idle_.find(key);
    if (it == idle_.end()) {
      return nullptr;
    }
    auto& entries = it->second;
    const auto entry =
        std::find_if(entries.begin(), entries.end(), [id](const Entry& e) { return e.id == id; });
    if (entry == entries.end()) {
      return nullptr;
    }
    auto connection = std::move(entry->connection);
    entries.erase(entry);
    if (entries.empty()) {
      idle_.erase(it);
    }
    return connection;
  }

  static asio::awaitable<void> expire(std::shared_ptr<ConnectionPool> pool, std::string key,
                                      std::uint64_t id, std::shared_ptr<asio::steady_timer> timer) {
    const auto [error] = co_await timer->async_wait(kAsTuple);
    if (error) {
      co_return;  // taken for a delivery, or the pool is closing
    }
    auto connection = pool->remove(key, id);
    if (connection) {
      log::debug("smtp_idle_expired", {{"relay", key}});
      co_await connection->quit(pool->quit_timeout_);
    }
  }

  asio::strand<asio::any_io_executor> strand_;
  const Clock::duration idle_time_;
  const std::size_t max_per_endpoint_;
  const Clock::duration quit_timeout_;
  std::mutex mutex_;
  std::map<std::string, std::deque<Entry>> idle_;
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
};

// The reply the caller sees for a server's answer where 2xx, 4xx or 5xx was due. A 3xx there is
// a protocol error and becomes a transient `code` (421 for the session, 451 for a recipient): it
// must never read as success.
smtp::Reply outcomeReply(const ServerReply& reply, int code, std::string_view stage,
                         const std::string& remote) {
  if (reply.code / 100 != 3) {
    return reply.toReply();
  }
  return smtp::Reply{
      code, "4.5.0",
      fmt::format("{} answered {} with {}", remote, stage, reply.toReply().oneLine())};
}

// The 421 reply for a connection that broke or timed out during `stage`.
smtp::Reply brokenReply(const Connection& connection, std::string_view stage) {
  return smtp::Reply{421, "4.4.2",
                     fmt::format("conversation with {} failed during {}: {}", connection.remote(),
                                 stage, connection.failure())};
}

}  // namespace

struct SmtpClient::Impl {
  Impl(asio::any_io_executor ex, ClientSettings s)
      : executor(std::move(ex)),
        settings(std::move(s)),
        pool(std::make_shared<ConnectionPool>(executor, settings)) {}

  asio::awaitable<AttemptResult> deliver(const net::Endpoint& endpoint,
                                         const OutboundMessage& message,
                                         std::shared_ptr<const RouteSecurity> security);
  asio::awaitable<std::unique_ptr<Connection>> reuse(const std::string& key);
  asio::awaitable<std::unique_ptr<Connection>> open(const net::Endpoint& endpoint,
                                                    const RouteSecurity& security,
                                                    AttemptResult& result);
  // EHLO (HELO for an old server); false with result.session_error set when refused.
  asio::awaitable<bool> hello(Connection& connection, AttemptResult& result);
  // The route's TLS: STARTTLS (and EHLO again) or, when the route allows it, plaintext.
  asio::awaitable<bool> secure(Connection& connection, const net::Endpoint& endpoint,
                               const RouteSecurity& security, AttemptResult& result);
  // TLS handshake; on failure result.session_error says why.
  asio::awaitable<bool> handshake(Connection& connection, const net::Endpoint& endpoint,
                                  const RouteSecurity& security, AttemptResult& result);
  // SMTP AUTH with PLAIN or LOGIN; credentials go only over TLS.
  asio::awaitable<bool> authenticate(Connection& connection, const Credentials& credentials,
                                     AttemptResult& result);
  // Runs one transaction on a greeted connection; true when the connection can be reused.
  asio::awaitable<bool> transact(Connection& connection, const OutboundMessage& message,
                                 AttemptResult& result);
  asio::awaitable<void> release(const std::string& key, std::unique_ptr<Connection> connection,
                                bool reusable);

  asio::any_io_executor executor;
  ClientSettings settings;
  std::shared_ptr<ConnectionPool> pool;
};

asio::awaitable<AttemptResult> SmtpClient::Impl::deliver(
    const net::Endpoint& endpoint, const OutboundMessage& message,
    std::shared_ptr<const RouteSecurity> security) {
  AttemptResult result;
  result.remote = endpoint.toString();
  if (message.recipients.empty()) {
    co_return result;
  }
  if (!security) {
    security = RouteSecurity::plaintext();
  }
  const std::string key = result.remote + security->poolKey();
  std::unique_ptr<Connection> connection;
  bool reusable = false;
  // A pooled connection whose probe finds it dead is dropped before anything was transacted on
  // it: the message goes on the next pooled connection, or a new one.
  const AttemptResult untried = result;
  while ((connection = co_await reuse(key))) {
    reusable = co_await transact(*connection, message, result);
    if (!connection->stale()) {
      break;
    }
    log::debug("smtp_idle_gone", {{"relay", key}});
    connection->close();
    result = untried;
  }
  if (!connection) {
    connection = co_await open(endpoint, *security, result);
    if (!connection) {
      log::debug("smtp_session_error",
                 {{"relay", result.remote}, {"reply", result.session_error->oneLine()}});
      co_return result;
    }
    reusable = co_await transact(*connection, message, result);
  }
  if (result.session_error) {
    log::debug("smtp_session_error",
               {{"relay", result.remote}, {"reply", result.session_error->oneLine()}});
  }
  co_await release(key, std::move(connection), reusable);
  co_return result;
}

asio::awaitable<std::unique_ptr<Connection>> SmtpClient::Impl::reuse(const std::string& key) {
  while (auto connection = pool->take(key)) {
    if (connection->looksIdle() && connection->extensions().pipelining) {
      // RFC 2920 lets RSET open a pipelined group: the probe costs no round trip of its own.
      connection->deferProbe();
      co_return std::move(connection);
    }
    if (connection->looksIdle()) {
      const auto reply = co_await connection->command(
          "RSET", std::min<Clock::duration>(settings.command_timeout, kMaxRsetWait));
      if (reply && reply->code / 100 == 2) {
        log::debug("smtp_reuse", {{"relay", key}});
        co_return std::move(connection);
      }
    }
    log::debug("smtp_idle_gone", {{"relay", key}});
    connection->close();
  }
  co_return nullptr;
}

asio::awaitable<std::unique_ptr<Connection>> SmtpClient::Impl::open(const net::Endpoint& endpoint,
                                                                    const RouteSecurity& security,
                                                                    AttemptResult& result) {
  // Nothing is transacted before MAIL: whatever fails here, another host may do better.
  result.try_next_host = true;
  auto connection = std::make_unique<Connection>(executor, result.remote);
  const bool connected = co_await connection->connect(endpoint, settings.connect_timeout);
  if (!connected) {
    result.session_error =
        smtp::Reply{421, "4.4.1",
                    fmt::format("connect to {} failed: {}", result.remote, connection->failure())};
    co_return nullptr;
  }
  log::debug("smtp_connected", {{"relay", result.remote}});
  if (security.mode() == RouteTls::kTls) {
    const bool secured = co_await handshake(*connection, endpoint, security, result);
    if (!secured) {
      co_return nullptr;
    }
  }

  const auto greeting = co_await connection->readReply(settings.command_timeout);
  if (!greeting) {
    result.session_error = brokenReply(*connection, "the greeting");
    co_return nullptr;
  }
  if (greeting->code != 220) {
    result.session_error =
        greeting->code >= 400
            ? greeting->toReply()
            : smtp::Reply{421, "4.4.2",
                          fmt::format("{} greeted with {} instead of 220", result.remote,
                                      greeting->toReply().oneLine())};
    co_await connection->quit(settings.command_timeout);
    co_return nullptr;
  }

  if (!safeArgument(settings.helo_name) || settings.helo_name.empty()) {
    result.session_error = smtp::Reply{421, "4.3.5", "invalid helo name configured"};
    co_await connection->quit(settings.command_timeout);
    co_return nullptr;
  }
  const bool greeted = co_await hello(*connection, result);
  if (!greeted) {
    co_return nullptr;
  }
  const bool secured = co_await secure(*connection, endpoint, security, result);
  if (!secured) {
    co_return nullptr;
  }
  if (security.credentials()) {
    const bool authenticated = co_await authenticate(*connection, *security.credentials(), result);
    if (!authenticated) {
      co_return nullptr;
    }
  }
  result.try_next_host = false;
  co_return std::move(connection);
}

asio::awaitable<bool> SmtpClient::Impl::hello(Connection& connection, AttemptResult& result) {
  auto reply = co_await connection.command("EHLO " + settings.helo_name, settings.command_timeout);
  if (!reply) {
    result.session_error = brokenReply(connection, "EHLO");
    co_return false;
  }
  if (reply->code / 100 == 2) {
    connection.setExtensions(parseEhlo(*reply));
  } else if (reply->code >= 500 && !connection.encrypted()) {
    // An old server without ESMTP: plain HELO, no extensions. (After STARTTLS the server has
    // shown it speaks ESMTP: a refused EHLO then is an error.)
    connection.setExtensions(Extensions{});
    reply = co_await connection.command("HELO " + settings.helo_name, settings.command_timeout);
    if (!reply) {
      result.session_error = brokenReply(connection, "HELO");
      co_return false;
    }
  }
  if (reply->code / 100 != 2) {
    result.session_error = outcomeReply(*reply, 421, "EHLO/HELO", result.remote);
    co_await connection.quit(settings.command_timeout);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> SmtpClient::Impl::secure(Connection& connection,
                                               const net::Endpoint& endpoint,
                                               const RouteSecurity& security,
                                               AttemptResult& result) {
  const RouteTls mode = security.mode();
  if (mode != RouteTls::kStartTls && mode != RouteTls::kStartTlsRequired) {
    co_return true;  // plaintext by choice, or TLS since the first byte
  }
  const bool required = mode == RouteTls::kStartTlsRequired;
  if (!connection.extensions().starttls) {
    if (!required) {
      log::info("smtp_plaintext", {{"relay", result.remote}, {"reason", "STARTTLS not offered"}});
      co_return true;
    }
    result.session_error =
        smtp::Reply{421, "4.7.4",
                    fmt::format("{} does not offer STARTTLS, and the route requires TLS (tls = "
                                "\"starttls-required\"): not sending in plaintext",
                                result.remote)};
    co_await connection.quit(settings.command_timeout);
    co_return false;
  }
  const auto reply = co_await connection.command("STARTTLS", settings.command_timeout);
  if (!reply) {
    result.session_error = brokenReply(connection, "STARTTLS");
    co_return false;
  }
  if (reply->code != 220) {
    if (!required && reply->code / 100 != 2) {
      log::info("smtp_plaintext", {{"relay", result.remote},
                                   {"reason", "STARTTLS refused"},
                                   {"reply", reply->toReply().oneLine()}});
      co_return true;
    }
    result.session_error =
        smtp::Reply{421, "4.7.4",
                    fmt::format("{} answered STARTTLS with {}: not sending in plaintext",
                                result.remote, reply->toReply().oneLine())};
    co_await connection.quit(settings.command_timeout);
    co_return false;
  }
  if (connection.hasBufferedInput()) {
    // RFC 3207 5: anything before the handshake is not protected; it may be an attacker's.
    result.session_error = smtp::Reply{
        421, "4.7.0",
        fmt::format("{} sent data after its 220 reply to STARTTLS: dropping the connection",
                    result.remote)};
    connection.close();
    co_return false;
  }
  const bool secured = co_await handshake(connection, endpoint, security, result);
  if (!secured) {
    co_return false;
  }
  // RFC 3207 4.2: forget what was learnt before TLS, ask again (AUTH often appears only now).
  co_return co_await hello(connection, result);
}

asio::awaitable<bool> SmtpClient::Impl::handshake(Connection& connection,
                                                  const net::Endpoint& endpoint,
                                                  const RouteSecurity& security,
                                                  AttemptResult& result) {
  const std::string& name = security.nameFor(endpoint.host);
  const bool done = co_await connection.startTls(*security.context(), name, security.verify(),
                                                 settings.command_timeout);
  if (!done) {
    result.session_error = smtp::Reply{
        421, "4.7.5",
        fmt::format("TLS with {} failed: {}; not delivered (never falls back to plaintext)",
                    result.remote, connection.failure())};
    connection.close();
    co_return false;
  }
  log::info("smtp_tls", {{"relay", result.remote},
                         {"tls", connection.tlsDescription()},
                         {"verified", connection.verified()},
                         {"name", connection.verified() ? name : std::string()}});
  co_return true;
}

asio::awaitable<bool> SmtpClient::Impl::authenticate(Connection& connection,
                                                     const Credentials& credentials,
                                                     AttemptResult& result) {
  if (!connection.encrypted()) {
    // The config allows credentials only on routes that require TLS; never send them in clear.
    result.session_error = smtp::Reply{
        421, "4.7.0",
        fmt::format("not sending credentials to {} over an unencrypted connection", result.remote)};
    co_await connection.quit(settings.command_timeout);
    co_return false;
  }
  const auto& offered = connection.extensions().auth;
  const auto has = [&](std::string_view m) {
    return std::any_of(offered.begin(), offered.end(),
                       [m](const std::string& o) { return iequals(o, m); });
  };
  std::string_view mechanism;
  if (has("PLAIN")) {
    mechanism = "PLAIN";
  } else if (has("LOGIN")) {
    mechanism = "LOGIN";
  } else {
    result.session_error = smtp::Reply{
        421, "4.7.0",
        fmt::format(
            "{} offers no AUTH mechanism we use (PLAIN, LOGIN) but the route has a "
            "username; offered: {}",
            result.remote,
            offered.empty() ? std::string("none") : fmt::format("{}", fmt::join(offered, " ")))};
    co_await connection.quit(settings.command_timeout);
    co_return false;
  }

  // The secret-bearing lines are built, sent and wiped here; only their replies are kept.
  std::optional<ServerReply> reply;
  std::string line;
  if (mechanism == "PLAIN") {
    // RFC 4616: authzid NUL authcid NUL passwd, with the initial response (RFC 4954 4).
    std::string token;
    token.reserve(credentials.username.size() + credentials.password.size() + 2);
    token += '\0';
    token += credentials.username;
    token += '\0';
    token += credentials.password;
    std::string encoded = encodeBase64(token);
    wipeSecret(token);
    line.reserve(encoded.size() + 13);
    line += "AUTH PLAIN ";
    line += encoded;
    line += "\r\n";
    wipeSecret(encoded);
    const bool sent = co_await connection.send(line, settings.command_timeout);
    wipeSecret(line);
    if (sent) {
      reply = co_await connection.readReply(settings.command_timeout);
    }
  } else {
    // LOGIN: the server prompts (334) for the username, then the password.
    const bool sent = co_await connection.send("AUTH LOGIN\r\n", settings.command_timeout);
    if (sent) {
      reply = co_await connection.readReply(settings.command_timeout);
    }
    const std::array<const std::string*, 2> secrets{&credentials.username, &credentials.password};
    for (const std::string* secret : secrets) {
      if (!reply || reply->code != 334) {
        break;
      }
      line = encodeBase64(*secret);
      line += "\r\n";
      const bool answered = co_await connection.send(line, settings.command_timeout);
      wipeSecret(line);
      reply.reset();
      if (answered) {
        reply = co_await connection.readReply(settings.command_timeout);
      }
    }
  }
  if (!reply) {
    result.session_error = brokenReply(connection, "AUTH");
    co_return false;
  }
  if (reply->code != 235) {
    // Like Postfix's smtp_sasl_auth_soft_bounce: a refused login is a configuration problem at
    // one end or the other; the mail waits for it to be fixed instead of bouncing. A server
    // left waiting for more (334) is cancelled with "*" by dropping the connection.
    const smtp::Reply server = reply->toReply();
    result.session_error = smtp::Reply{454, "4.7.0",
                                       fmt::format("{} refused our credentials (AUTH {}): {}",
                                                   result.remote, mechanism, server.oneLine())};
    if (reply->code == 334) {
      connection.close();
    } else {
      co_await connection.quit(settings.command_timeout);
    }
    co_return false;
  }
  log::debug("smtp_authenticated", {{"relay", result.remote}, {"mechanism", mechanism}});
  co_return true;
}

asio::awaitable<bool> SmtpClient::Impl::transact(Connection& connection,
                                                 const OutboundMessage& message,
                                                 AttemptResult& result) {
  const Extensions& ext = connection.extensions();
  const std::string_view data = message.data.data;

  if (message.smtputf8 && !ext.smtputf8) {
    // RFC 6531 3.4: never downgrade silently. Another host may offer it.
    result.session_error =
        smtp::Reply{550, "5.6.7",
                    fmt::format("SMTPUTF8 is required, but was not offered by {}", result.remote)};
    result.try_next_host = true;
    co_return true;  // nothing was sent: the connection is as good as before
  }
  const std::string sender = message.mail_from.str();
  if (!safeArgument(sender)) {
    result.session_error = smtp::Reply{553, "5.1.7", "invalid sender address"};
    co_return true;
  }

  std::string mail = "MAIL FROM:" + message.mail_from.bracketed();
  if (ext.size) {
    mail += " SIZE=" + std::to_string(data.size());
  }
  if (message.body_8bit && ext.eight_bit_mime) {
    mail += " BODY=8BITMIME";  // without 8BITMIME the bytes go as they are, as most MTAs do
  }
  if (message.smtputf8) {
    mail += " SMTPUTF8";
  }
  mail += "\r\n";

  // MAIL, the RCPTs and DATA: with PIPELINING in groups (MAIL plus up to kPipelineGroup RCPTs per
  // write, then their replies in order) and DATA at the end of the last group, as RFC 2920 3.1
  // allows (and Postfix does): one round trip less per message. The message itself only ever
  // follows a 354 given after the RCPT replies were read, and only when one was accepted.
  // Without PIPELINING, one command at a time, and DATA only once a recipient was accepted.
  const auto& recipients = message.recipients;
  std::vector<smtp::Reply> replies(recipients.size());
  std::vector<bool> accepted(recipients.size(), false);
  const std::size_t group = ext.pipelining ? kPipelineGroup : 1;
  bool mail_sent = false;
  bool data_sent = false;
  bool rcpt_sent = false;
  std::size_t next = 0;
  std::string batch;
  std::vector<std::size_t> batch_rcpts;
  while (!mail_sent || next < recipients.size()) {
    batch.clear();
    batch_rcpts.clear();
    const bool with_mail = !mail_sent;
    if (with_mail) {
      batch = mail;
      mail_sent = true;
    }
    while (next < recipients.size() && batch_rcpts.size() < group &&
           (ext.pipelining || !with_mail)) {
      const std::size_t i = next++;
      if (!safeArgument(recipients[i].str())) {
        replies[i] = smtp::Reply{553, "5.1.3", "invalid recipient address"};
        continue;
      }
      batch += "RCPT TO:" + recipients[i].bracketed() + "\r\n";
      batch_rcpts.push_back(i);
    }
    rcpt_sent = rcpt_sent || !batch_rcpts.empty();
    if (ext.pipelining && next == recipients.size() && rcpt_sent) {
      batch += "DATA\r\n";  // the last command of the group (RFC 2920 3.1)
      data_sent = true;
    }
    if (batch.empty()) {
      continue;
    }
    const std::string_view stage = with_mail ? "MAIL FROM" : "RCPT TO";
    const bool probe = connection.probePending();
    if (probe) {
      batch.insert(0, "RSET\r\n");
    }
    const bool sent = co_await connection.send(batch, settings.command_timeout);
    if (probe && !co_await connection.probed(sent, settings.command_timeout)) {
      co_return false;  // stale: deliver() goes on with another connection
    }
    if (!sent) {
      result.session_error = brokenReply(connection, stage);
      co_return false;
    }
    if (with_mail) {
      const auto reply = co_await connection.readReply(settings.command_timeout);
      if (!reply) {
        result.session_error = brokenReply(connection, "MAIL FROM");
        co_return false;
      }
      if (reply->code / 100 != 2) {
        result.session_error = outcomeReply(*reply, 421, "MAIL FROM", result.remote);
        co_return false;
      }
    }
    for (const std::size_t i : batch_rcpts) {
      const auto reply = co_await connection.readReply(settings.command_timeout);
      if (!reply) {
        result.session_error = brokenReply(connection, "RCPT TO");
        co_return false;
      }
      if (reply->code == 421) {
        // The server is closing the session: no later reply will come.
        result.session_error = reply->toReply();
        co_return false;
      }
      replies[i] = outcomeReply(*reply, 451, "RCPT TO", result.remote);
      accepted[i] = reply->code / 100 == 2;
    }
  }

  const bool any_accepted = std::any_of(accepted.begin(), accepted.end(), [](bool a) { return a; });
  std::optional<ServerReply> start;
  if (data_sent) {
    start = co_await connection.readReply(settings.command_timeout);
    if (start && !any_accepted && start->code == 354) {
      // RFC 2920 3.1: a server that takes DATA with no recipient accepted gets an empty message,
      // which it has nobody to deliver to; its reply to that ends the data phase, and RSET
      // follows as for any transaction without recipients.
      const bool ended = co_await connection.send(".\r\n", settings.command_timeout);
      start.reset();
      if (ended) {
        start = co_await connection.readReply(settings.command_timeout);
      }
    }
  } else if (any_accepted) {
    start = co_await connection.command("DATA", settings.command_timeout);
  }
  if (!any_accepted) {
    result.recipient_replies = std::move(replies);
    if (data_sent && !start) {
      co_return false;  // the connection broke over the refused DATA: it is not reused
    }
    const auto reset = co_await connection.command("RSET", settings.command_timeout);
    co_return reset && reset->code / 100 == 2;
  }
  if (!start) {
    result.session_error = brokenReply(connection, "DATA");
    co_return false;
  }
  if (start->code != 354) {
    result.session_error = start->code >= 400
                               ? start->toReply()
                               : smtp::Reply{421, "4.5.0",
                                             fmt::format("{} answered DATA with {}", result.remote,
                                                         start->toReply().oneLine())};
    co_return false;
  }

  DotStuffer stuffer(data);
  std::string chunk;
  chunk.reserve(kDataChunk + 8);
  std::size_t released = 0;  // data before this was sent and its pages given back
  while (!stuffer.done()) {
    stuffer.next(chunk, kDataChunk);
    const bool sent = co_await connection.send(chunk, settings.command_timeout);
    if (!sent) {
      result.session_error = brokenReply(connection, "the message transfer");
      co_return false;
    }
    if (stuffer.position() - released >= PagedBytes::kWindow || stuffer.done()) {
      message.data.release(data.substr(released, stuffer.position() - released));
      released = stuffer.position();
    }
  }
  const auto final_reply = co_await connection.readReply(settings.data_timeout);
  if (!final_reply) {
    result.session_error = brokenReply(connection, "the end of DATA");
    co_return false;
  }
  const smtp::Reply outcome = outcomeReply(*final_reply, 451, "the end of DATA", result.remote);
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (accepted[i]) {
      replies[i] = outcome;
    }
  }
  result.recipient_replies = std::move(replies);
  co_return final_reply->code != 421;
}

asio::awaitable<void> SmtpClient::Impl::release(const std::string& key,
                                                std::unique_ptr<Connection> connection,
                                                bool reusable) {
  if (connection->broken()) {
    connection->close();
    co_return;
  }
  if (reusable) {
    connection = pool->put(key, std::move(connection));
    if (!connection) {
      co_return;
    }
  }
  co_await connection->quit(settings.command_timeout);
}

SmtpClient::SmtpClient(asio::any_io_executor executor, ClientSettings settings)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(settings))) {}

SmtpClient::~SmtpClient() {
  impl_->pool->shutdown();
}

asio::awaitable<AttemptResult> SmtpClient::deliver(const net::Endpoint& endpoint,
                                                   const OutboundMessage& message,
                                                   std::shared_ptr<const RouteSecurity> security) {
  return impl_->deliver(endpoint, message, std::move(security));
}

asio::awaitable<void> SmtpClient::closeIdle() {
  auto idle = impl_->pool->takeAll();
  for (auto& connection : idle) {
    co_await connection->quit(impl_->settings.command_timeout);
  }
}

}  // namespace relayguard::delivery
