// smtp_client: the outbound SMTP client used by delivery: one transaction (MAIL, RCPT..., DATA)
// to one next-hop endpoint, with connection reuse.
//
// A connection is secured as the route's RouteSecurity says before any transaction: implicit
// TLS or STARTTLS (then EHLO again), certificate checks, and AUTH (PLAIN or LOGIN, only ever
// over TLS). A required TLS that cannot be had is a transient failure (4.7.x), never a reason
// to fall back to plaintext; a refused AUTH is transient too (454), so a wrong password defers
// mail instead of bouncing it. Credentials never appear in any reply text or log line.
//
// Finished connections are kept in a small idle pool per endpoint for DeliveryConfig::idle_reuse
// and reused for the next message to the same endpoint (RSET between transactions). Every network
// step has a deadline (connect_timeout, command_timeout). Errors are values: a connection that
// cannot be made or breaks answers with a synthetic 4xx reply (transient), never an exception.
// Thread-safe: deliver() may run concurrently from any number of coroutines.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "core/delivery/route_security.hpp"
#include "core/message/address.hpp"
#include "core/net/endpoint.hpp"
#include "core/smtp/reply.hpp"
#include "core/util/mapped_file.hpp"

namespace relayguard::delivery {

struct ClientSettings {
  std::string helo_name;  // our EHLO name (Config::hostname)
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};  // waiting for the reply after the final "."
  std::chrono::seconds idle_reuse{10};
  std::size_t max_idle_per_endpoint = 4;
};

struct OutboundMessage {
  Address mail_from = Address::null();
  std::vector<Address> recipients;
  PagedBytes data;  // CRLF line ends, not dot-stuffed; not owned; sent pages are given back
  bool smtputf8 = false;
  bool body_8bit = false;
};

struct AttemptResult {
  // Set when the attempt failed as a whole: connection refused or broken, greeting/EHLO/MAIL/DATA
  // refused, timeout. Connection-level failures are reported as 421 4.4.x replies.
  std::optional<smtp::Reply> session_error;
  // True when session_error says nothing about this server's view of the recipients
  // (connect failure, bad greeting): the caller may try the next smart host.
  bool try_next_host = false;
  // One reply per recipient, in order: the RCPT refusal, or for accepted recipients the reply
  // to the end of DATA. Empty when session_error is set.
  std::vector<smtp::Reply> recipient_replies;
  std::string remote;  // "host:port" that was talked to
};

class SmtpClient {
 public:
  SmtpClient(asio::any_io_executor executor, ClientSettings settings);
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // `security` (nullptr: plaintext, no AUTH) says how the connection is protected; pooled
  // connections are only reused for the same RouteSecurity object.
  asio::awaitable<AttemptResult> deliver(const net::Endpoint& endpoint,
                                         const OutboundMessage& message,
                                         std::shared_ptr<const RouteSecurity> security = nullptr);
  // Sends QUIT on and closes every idle connection (shutdown).
  asio::awaitable<void> closeIdle();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relayguard::delivery
