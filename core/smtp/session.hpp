// session: one inbound SMTP connection, from greeting to QUIT, as one coroutine.
//
// Trust: every byte comes from the network. The session enforces the protocol limits of
// [limits] (command and text line length, message size, recipients, errors, timeouts), refuses
// NUL and non-ASCII in commands, answers every problem with a reply code and an enhanced status
// code, and hands only complete, clean messages to its MessageHandler. Relay control: on a
// relay listener a recipient is accepted only from access.relay_networks or an authenticated
// client; submission and smtps listeners require AUTH before MAIL. PIPELINING: replies are
// buffered and sent before the session would wait for input.
//
// TLS and AUTH (session_security.cpp): STARTTLS is offered on relay and submission listeners
// when [tls] is set; smtps listeners handshake before the greeting. After STARTTLS everything
// the client sent before the handshake is discarded (CVE-2011-0411) and the session forgets
// its EHLO. AUTH PLAIN and LOGIN are offered and accepted only over TLS.
//
// See also: data_reader.hpp (DATA), smtp_stream.hpp (plain/TLS I/O), listener.hpp (accepting,
// limits), message_acceptor.hpp (what the relay does with a message), core/auth (passwords).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "core/config/config.hpp"
#include "core/message/envelope.hpp"
#include "core/net/tls_context.hpp"
#include "core/smtp/message_buffer.hpp"
#include "core/smtp/reply.hpp"
#include "core/smtp/smtp_stream.hpp"
#include "core/util/mapped_file.hpp"

namespace relayguard::auth {
class Authenticator;
}
namespace relayguard::metrics {
class RelayMetrics;
}

namespace relayguard::smtp {

// What a session hands a finished message to (the relay's acceptor, or the demo sink).
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  // `message` is the unstuffed DATA with CRLF line ends (for a large message, a mapping of the
  // file it was spilled to). The reply goes to the client as is. Both live until the returned
  // awaitable completes.
  virtual asio::awaitable<Reply> handleMessage(const Envelope& envelope,
                                               const PagedBytes& message) = 0;
};

struct SessionSettings {
  std::string hostname;
  LimitsConfig limits;
  ListenerMode mode = ListenerMode::kRelay;
  // Where a message larger than spill_threshold goes while it arrives (MessageBuffer): the
  // spool's tmp/; empty: every message stays in memory.
  std::filesystem::path spill_dir;
  std::size_t spill_threshold = MessageBuffer::kDefaultSpillThreshold;
  // nullptr: every recipient is accepted (the demo sink). Otherwise relay control applies.
  const AccessConfig* access = nullptr;
  // Whether the relay can route mail for a recipient; empty: every recipient is routable.
  std::function<bool(const Address&)> routable;
  // The certificate in force (swapped on SIGHUP); nullptr: no TLS on this listener.
  const net::TlsContextSlot* tls = nullptr;
  // Checks AUTH credentials; nullptr: AUTH is not offered.
  auth::Authenticator* authenticator = nullptr;
  // Connections, TLS handshake failures and AUTH results are counted here; nullptr: not counted.
  metrics::RelayMetrics* metrics = nullptr;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `client_ip`: the client's address as a PROXY header named it; empty: the socket's peer.
  Session(asio::ip::tcp::socket socket, const SessionSettings& settings, MessageHandler& handler,
          std::string client_ip = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::awaitable<void> run();
  // Thread-safe: asks the session to end after the command in progress (421 4.3.2).
  void shutdown();
  const std::string& clientIp() const { return client_ip_; }
  asio::any_io_executor executor() { return stream_.socket().get_executor(); }
  // The client's address as text, IPv4-mapped IPv6 shown as IPv4.
  static std::string peerAddress(const asio::ip::tcp::socket& socket);

 private:
  enum class Io { kOk, kTooLong, kBareLf, kEof, kTimeout, kError, kCancelled };
  struct Transaction {
    std::optional<Address> mail_from;
    std::vector<Address> rcpt_to;
    bool smtputf8 = false;
    bool body_8bit = false;
  };

  asio::awaitable<Io> readMore(std::chrono::steady_clock::time_point deadline);
  asio::awaitable<Io> readLine(std::string& line);
  asio::awaitable<bool> flush();
  void reply(const Reply& r);
  void replyRaw(std::string wire);
  // Counts a client error; true when the session must end.
  bool clientError(const Reply& r);

  // Each returns false when the session must end.
  asio::awaitable<bool> dispatch(const std::string& line);
  void onHelo(std::string_view arg, bool extended);
  bool onMail(std::string_view arg);
  bool onRcpt(std::string_view arg);
  asio::awaitable<bool> onData();
  std::vector<std::string> ehloLines() const;
  bool authRequired() const;
  void resetTransaction() { txn_ = Transaction{}; }

  // session_security.cpp: TLS and AUTH.
  bool tlsOffered() const;
  bool authOffered() const;
  // The implicit-TLS handshake of an smtps listener; false when the session must end.
  asio::awaitable<bool> implicitTls();
  asio::awaitable<bool> onStartTls(std::string_view arg);
  asio::awaitable<bool> onAuth(std::string_view arg);
  // Sends a 334 challenge and reads the client's answer line. kOk: `answer` holds it decoded.
  enum class AuthRead { kOk, kCancelled, kRefused, kEnd };
  asio::awaitable<AuthRead> authExchange(std::string_view challenge, std::string& answer);
  asio::awaitable<bool> authWith(std::string_view mechanism, const std::string& authzid,
                                 const std::string& user, std::string& password);

  SmtpStream stream_;
  asio::steady_timer timer_;
  const SessionSettings& settings_;
  MessageHandler& handler_;
  std::string client_ip_;
  std::string in_;
  std::size_t in_pos_ = 0;
  bool discarding_ = false;  // inside an overlong line, dropping bytes until its LF
  std::string out_;
  std::string helo_;
  bool esmtp_ = false;
  std::optional<std::string> auth_user_;
  Transaction txn_;
  std::size_t errors_ = 0;
  std::atomic<bool> stopping_{false};
  bool waiting_for_command_ = false;
};

}  // namespace relayguard::smtp
