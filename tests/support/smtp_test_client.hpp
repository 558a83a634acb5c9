// smtp_test_client: a blocking SMTP client for tests that talk to a server over a real socket.
//
// Unlike the relay's own SMTP client it does exactly what the test says and nothing more: it
// can bind a chosen source address (127.0.0.2 to act as an outside client), send raw bytes
// (pipelined commands, bare CR/LF, NUL, overlong lines), and read one complete, possibly
// multi-line reply with a timeout. sendMail() runs a whole transaction with dot-stuffing. TLS
// (OpenSSL) can start with STARTTLS or right after connecting (implicit TLS), verifying the
// server's certificate against a test CA. No call throws: a missing reply is a SmtpReply with
// code 0 and a reason in `error`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace relayguard::test {

struct SmtpReply {
  int code = 0;                    // 0: no complete reply (see error)
  std::vector<std::string> lines;  // the text of each line, after "NNN-" / "NNN "
  std::string error;               // why there is no reply: timeout, connection closed, garbled

  // The enhanced status code ("5.7.1") that starts the first line, or "".
  std::string enhanced() const;
  // All lines joined with '\n'.
  std::string text() const;
  // The reply as it came over the wire, for failure messages.
  std::string str() const;
};

std::ostream& operator<<(std::ostream& out, const SmtpReply& reply);

// The result of sendMail(): every reply in order, the last one deciding.
struct SmtpTransaction {
  std::vector<SmtpReply> replies;
  SmtpReply final;  // the end-of-DATA reply, or the first reply that stopped the transaction
  bool accepted() const { return final.code == 250; }
  // The queue id a relay names in its 250 reply ("... queued as ID"): the last word of the text.
  std::string queueId() const;
};

class SmtpTestClient {
 public:
  explicit SmtpTestClient(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~SmtpTestClient();
  SmtpTestClient(const SmtpTestClient&) = delete;
  SmtpTestClient& operator=(const SmtpTestClient&) = delete;

  // Connects to the IPv4 host:port, from `source` (an IPv4 address, port 0) when not empty.
  // False on failure; lastError() says why.
  bool connect(const std::string& host, std::uint16_t port, const std::string& source = "");
  bool connected() const { return fd_ >= 0; }
  const std::string& lastError() const { return error_; }
  void close();

  // Writes all bytes; false if the connection failed.
  bool sendRaw(std::string_view bytes);
  // Reads one complete reply (all its lines) within the client's timeout or the one given.
  SmtpReply readReply();
  SmtpReply readReply(std::chrono::milliseconds timeout);
  // Sends `line` + CRLF and reads the reply.
  SmtpReply command(std::string_view line);
  // True when the server closes the connection within `timeout`; any bytes it sends first are
  // kept and returned by pending().
  bool waitForClose(std::chrono::milliseconds timeout);
  // Bytes received but not yet consumed as replies.
  const std::string& pending() const { return in_; }

  // The greeting, then EHLO `name`: true when both are positive.
  bool greetAndEhlo(const std::string& name = "client.test");

  // MAIL FROM, each RCPT TO, DATA, the message (dot-stuffed, CRLF added when missing) and the
  // end marker, one reply at a time. Stops at the first refusal of MAIL or DATA; refused RCPTs
  // only stop the transaction when none was accepted.
  SmtpTransaction sendMail(const std::string& from, const std::vector<std::string>& rcpts,
                           std::string_view message, const std::string& mail_params = "");

  // "..x" for lines starting with '.', CRLF appended when the message does not end with one.
  static std::string dotStuff(std::string_view message);

  // TLS, trusting only `ca_file` and checking the server's certificate for `host` (a DNS name
  // or an IP address). startTls() sends STARTTLS, expects 220 and handshakes; handshake() starts
  // TLS on the open connection at once (implicit TLS, or after a STARTTLS sent by hand). False
  // on failure; lastError() says why, with OpenSSL's reason.
  bool startTls(const std::filesystem::path& ca_file, const std::string& host = "localhost");
  bool handshake(const std::filesystem::path& ca_file, const std::string& host = "localhost");
  bool secure() const { return ssl_ != nullptr; }
  // The negotiated protocol ("TLSv1.3"), or "" before TLS.
  std::string tlsVersion() const;
  // AUTH PLAIN with an initial response; the server's reply.
  SmtpReply authPlain(const std::string& user, const std::string& password);

 private:
  using Clock = std::chrono::steady_clock;
  // Reads what is available into buf by `deadline`: the byte count, 0 when the server closed
  // the connection, -1 on an error and -2 on timeout (error_ says which).
  long receive(char* buf, std::size_t size, Clock::time_point deadline);
  std::string tlsError(const std::string& what) const;

  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string in_;
  std::string error_;
  SSL_CTX* ssl_ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace relayguard::test
