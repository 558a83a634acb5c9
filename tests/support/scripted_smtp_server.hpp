// scripted_smtp_server: a small SMTP server for tests, independent of the relay's own server
// code. It listens on 127.0.0.1 (an ephemeral port), serves every connection on its own thread
// with plain POSIX sockets, records what it receives (commands, envelopes, un-dot-stuffed message
// bytes, connection count) and answers as a ScriptedSmtpPolicy says: per-recipient refusals,
// end-of-DATA replies, greeting overrides, missing extensions, hangs, disconnects, delays.
//
// It can also play a smart host that wants TLS and AUTH: STARTTLS or implicit TLS with a
// certificate from test_certificates.hpp (OpenSSL on the connection's socket), and AUTH PLAIN /
// LOGIN against a user table. Every TLS handshake and AUTH attempt is recorded, so tests can
// check what the client really did (was it encrypted, which credentials did it send).
//
// Unit tests drive the SMTP client against it; integration tests use it as the relay's smart host.
// All accessors are thread-safe. Policy callbacks run on the connection threads, so they must be
// thread-safe themselves (capture by value or guard shared state).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace relayguard::test {

// Special reply values understood wherever a policy supplies reply text.
// kHang: never answer; read and discard input until the client goes away or the server stops.
inline constexpr std::string_view kHang = "<hang>";
// kDisconnect: close the connection at once instead of answering.
inline constexpr std::string_view kDisconnect = "<disconnect>";

// A command_hook that hangs at the first command starting with `verb` (e.g. "MAIL").
inline std::function<std::string(const std::string&)> hangAt(std::string verb) {
  return [verb = std::move(verb)](const std::string& line) {
    return line.starts_with(verb) ? std::string(kHang) : std::string();
  };
}

// One mail transaction that reached the end of DATA.
struct ScriptedTransaction {
  std::size_t connection = 0;        // 1-based number of the connection it arrived on
  std::string helo;                  // the EHLO/HELO argument given on that connection
  bool esmtp = false;                // true after EHLO, false after HELO
  std::string mail_from;             // the reverse-path without brackets ("" for <>)
  std::string mail_params;           // everything after the path, e.g. "SIZE=120 BODY=8BITMIME"
  std::vector<std::string> rcpt_to;  // accepted recipients, without brackets, in order
  std::vector<std::string> rcpt_refused;  // refused recipients, without brackets, in order
  std::string data;                       // the message after un-dot-stuffing, end marker excluded
  std::string final_reply;                // what the server answered to the end of DATA
  bool tls = false;                       // the transaction ran over TLS
  std::string tls_version;                // e.g. "TLSv1.3"
  std::string auth_user;                  // who had authenticated ("" if nobody)
};

// One AUTH exchange as the server saw it.
struct ScriptedAuth {
  std::size_t connection = 0;
  std::string mechanism;  // "PLAIN", "LOGIN", or what the client asked for
  std::string username;
  std::string password;
  bool tls = false;  // the exchange ran over TLS
  bool success = false;
};

// How the server behaves. Reply texts are complete reply lines without CRLF ("550 5.1.1 no such
// user"); several lines are separated by '\n' ("250-first\n250 last"). kHang and kDisconnect
// are accepted everywhere. An empty string (or an unset callback, or a callback returning "")
// means the default reply.
struct ScriptedSmtpPolicy {
  std::string hostname = "scripted.test";
  // Default: "220 <hostname> ESMTP scripted". A 4xx/5xx greeting makes the server answer every
  // command but QUIT with 503 (421 closes the connection after sending it), as RFC 5321 asks.
  std::string greeting;
  // EHLO keywords advertised, one per line. removeExtension() drops one.
  std::vector<std::string> extensions = {"SIZE 52428800", "PIPELINING", "8BITMIME", "SMTPUTF8",
                                         "ENHANCEDSTATUSCODES"};
  std::string ehlo_reply;  // overrides the whole EHLO answer (e.g. "502 5.5.2 no EHLO")
  std::string helo_reply;  // overrides the HELO answer
  // Reply to MAIL FROM, given the reverse-path (no brackets) and the parameters.
  std::function<std::string(const std::string& reverse_path, const std::string& params)> mail_reply;
  // Reply to RCPT TO by exact address (no brackets); consulted before rcpt_reply.
  std::map<std::string, std::string> rcpt_replies;
  std::function<std::string(const std::string& address)> rcpt_reply;
  // Reply to the DATA command itself; anything not starting with '3' refuses the data phase.
  std::string data_reply;
  // After a 3xx to DATA, read nothing more until the server stops: the client's message fills
  // the socket buffers and its writes have to wait.
  bool stall_in_data = false;
  // Reply to the end of DATA, given the transaction as received (final_reply still empty).
  std::function<std::string(const ScriptedTransaction&)> end_of_data_reply;
  std::string rset_reply;  // overrides the RSET answer
  // Consulted first for every command line (without CRLF). A non-empty result is sent instead
  // of the normal handling, which then does not happen (no state change).
  std::function<std::string(const std::string& line)> command_hook;
  // Close the connection (silently, after the final reply) once this many transactions were
  // completed on it. 0: never.
  std::size_t close_after_transactions = 0;
  // Waited before every reply, including the greeting.
  std::chrono::milliseconds reply_delay{0};
  // Messages larger than this are answered with 552 and not stored (protects the test process).
  std::size_t max_message_size = 64 * 1024 * 1024;

  // TLS. With a certificate and key, STARTTLS is advertised (before TLS) when offer_starttls;
  // implicit_tls starts every connection with the handshake instead (port 465 style).
  std::filesystem::path tls_certificate;
  std::filesystem::path tls_private_key;
  bool offer_starttls = true;
  bool implicit_tls = false;
  // MAIL before TLS is up: 530 5.7.0.
  bool require_tls = false;
  // AUTH: the mechanisms advertised (PLAIN and LOGIN are implemented), only over TLS when
  // auth_requires_tls; users maps user name to password.
  std::vector<std::string> auth_mechanisms;
  std::map<std::string, std::string> users;
  bool auth_requires_tls = true;
  // MAIL before a successful AUTH: 530 5.7.0.
  bool require_auth = false;

  // Drops the advertised extension whose keyword is `keyword` (case-insensitive).
  void removeExtension(std::string_view keyword);
};

class ScriptedSmtpServer {
 public:
  // Binds 127.0.0.1:0 and starts accepting. Throws std::runtime_error when it cannot listen.
  explicit ScriptedSmtpServer(ScriptedSmtpPolicy policy = {});
  ~ScriptedSmtpServer();
  ScriptedSmtpServer(const ScriptedSmtpServer&) = delete;
  ScriptedSmtpServer& operator=(const ScriptedSmtpServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;

  // Replaces the policy; applies to every command received after the call.
  void setPolicy(ScriptedSmtpPolicy policy);

  std::vector<ScriptedTransaction> transactions() const;
  // Every command line received on any connection, in arrival order (DATA content and AUTH
  // continuation lines excluded).
  std::vector<std::string> commands() const;
  // For each of those, which read of its connection brought it (counted from 1): commands a
  // client pipelined into one write usually share one.
  std::vector<std::size_t> commandReads() const;
  std::vector<ScriptedAuth> authAttempts() const;
  // TLS handshakes that completed / failed (e.g. the client refused the certificate).
  std::size_t tlsHandshakes() const;
  std::size_t tlsFailures() const;
  // How many received command lines start with this verb (case-insensitive, e.g. "RSET").
  std::size_t commandCount(std::string_view verb) const;
  // Connections accepted so far / currently open.
  std::size_t connectionCount() const;
  std::size_t openConnections() const;

  // Wait until at least n transactions / n commands with this verb were received.
  bool waitForMessages(std::size_t n, std::chrono::milliseconds timeout) const;
  bool waitForCommands(std::string_view verb, std::size_t n,
                       std::chrono::milliseconds timeout) const;

  // Stops accepting, drops every connection and joins all threads. Idempotent.
  void stop();

 private:
  struct Connection {
    int fd = -1;
    std::size_t number = 0;
    std::thread thread;
    std::atomic<bool> finished{false};
  };
  class Session;

  void acceptLoop();
  void reapFinished();
  std::shared_ptr<const ScriptedSmtpPolicy> policy() const;
  void recordCommand(const std::string& line, std::size_t read);
  void recordTransaction(const ScriptedTransaction& transaction);
  void recordAuth(const ScriptedAuth& auth);
  void recordHandshake(bool ok);
  // Sleeps up to `delay`; returns early (false) when the server is stopping.
  bool pause(std::chrono::milliseconds delay) const;
  std::size_t countLocked(std::string_view verb) const;
  void closeWakePipe();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a byte written to [1] wakes the accept loop for stop()
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const ScriptedSmtpPolicy> policy_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::vector<ScriptedTransaction> transactions_;
  std::vector<std::string> commands_;
  std::vector<std::size_t> command_reads_;
  std::vector<ScriptedAuth> auths_;
  std::size_t tls_handshakes_ = 0;
  std::size_t tls_failures_ = 0;
  std::size_t connection_count_ = 0;
  std::size_t open_connections_ = 0;
};

}  // namespace relayguard::test
