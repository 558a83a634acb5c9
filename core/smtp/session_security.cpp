// session_security: STARTTLS (RFC 3207), implicit TLS (RFC 8314) and SMTP AUTH PLAIN/LOGIN
// (RFC 4954, 4616) for the inbound session (see session.hpp).
//
// Replies: 538 5.7.11 for AUTH before TLS, 503 5.5.1 for AUTH twice, inside a transaction or
// before EHLO, 504 5.5.4 for an unknown mechanism, 501 5.0.0 for a cancelled exchange ("*"),
// 501 5.5.2 for an answer that is not base64 (or not a PLAIN message), 535 5.7.8 for wrong
// credentials (held back by the brute-force delay), 454 4.7.0 while the client's address is
// locked out or when the directory ([auth.ldap]) gives no answer, 235 2.7.0 on success. Credentials
// never reach a log; the password is wiped from memory once checked.
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "core/auth/authenticator.hpp"
#include "core/auth/sasl.hpp"
#include "core/metrics/relay_metrics.hpp"
#include "core/smtp/session.hpp"
#include "core/util/base64.hpp"
#include "core/util/log_event.hpp"
#include "core/util/secret.hpp"
#include "core/util/strings.hpp"

namespace relayguard::smtp {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

Reply r(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text)};
}

void tlsFailed(const SessionSettings& settings, const std::string& client,
               const std::string& error) {
  log::info("tls_handshake_failed", {{"client", client}, {"error", error}});
  if (settings.metrics != nullptr) {
    settings.metrics->tlsHandshakeFailed(settings.mode);
  }
}

void count(metrics::RelayMetrics* m, metrics::RelayMetrics::Auth result) {
  if (m != nullptr) {
    m->authAttempt(result);
  }
}
// LOGIN's challenges: base64 of "Username:" and "Password:".
constexpr std::string_view kUsernamePrompt = "VXNlcm5hbWU6";
constexpr std::string_view kPasswordPrompt = "UGFzc3dvcmQ6";

}  // namespace

bool Session::tlsOffered() const {
  return settings_.tls != nullptr && settings_.mode != ListenerMode::kSmtps && !stream_.secure();
}

bool Session::authOffered() const {
  return settings_.authenticator != nullptr && stream_.secure() && !auth_user_;
}

asio::awaitable<bool> Session::implicitTls() {
  if (settings_.tls == nullptr) {
    log::error("tls_unavailable",
               {{"client", client_ip_}, {"detail", "smtps listener without a TLS certificate"}});
    co_return false;
  }
  std::shared_ptr<asio::ssl::context> context = settings_.tls->load();
  const auto error =
      co_await stream_.startTls(std::move(context), settings_.limits.command_timeout);
  if (error) {
    tlsFailed(settings_, client_ip_, *error);
    co_return false;
  }
  log::debug("tls_established", {{"client", client_ip_}, {"tls", stream_.tlsDescription()}});
  co_return true;
}

asio::awaitable<bool> Session::onStartTls(std::string_view arg) {
  if (stream_.secure()) {
    co_return !clientError(r(503, "5.5.1", "Error: TLS already active"));
  }
  if (!tlsOffered()) {
    co_return !clientError(r(502, "5.5.1", "Error: command not implemented"));
  }
  if (!arg.empty()) {
    co_return !clientError(r(501, "5.5.4", "Syntax: STARTTLS"));
  }
  std::shared_ptr<asio::ssl::context> context = settings_.tls->load();
  reply(r(220, "2.0.0", "Ready to start TLS"));
  const bool flushed = co_await flush();
  if (!flushed) {
    co_return false;
  }
  // CVE-2011-0411: whatever the client sent after STARTTLS came in the clear, so it must not be
  // taken as if it had come through TLS. Drop it.
  if (in_pos_ < in_.size()) {
    log::warn("starttls_discarded", {{"client", client_ip_},
                                     {"bytes", in_.size() - in_pos_},
                                     {"detail", "sent after STARTTLS before the handshake"}});
  }
  in_.clear();
  in_pos_ = 0;
  discarding_ = false;
  const auto error =
      co_await stream_.startTls(std::move(context), settings_.limits.command_timeout);
  if (error) {
    tlsFailed(settings_, client_ip_, *error);
    co_return false;
  }
  // RFC 3207 4.2: the client starts over with EHLO; nothing learnt in the clear carries over.
  helo_.clear();
  esmtp_ = false;
  auth_user_.reset();
  resetTransaction();
  log::debug("tls_established", {{"client", client_ip_}, {"tls", stream_.tlsDescription()}});
  co_return true;
}

asio::awaitable<Session::AuthRead> Session::authExchange(std::string_view challenge,
                                                         std::string& answer) {
  replyRaw("334 " + std::string(challenge) + "\r\n");
  std::string line;
  const Io io = co_await readLine(line);
  if (io == Io::kTimeout) {
    reply(r(421, "4.4.2", settings_.hostname + " Error: timeout exceeded"));
    co_return AuthRead::kEnd;
  }
  if (io == Io::kTooLong) {
    const bool end = clientError(r(500, "5.5.6", "Authentication exchange line is too long"));
    co_return end ? AuthRead::kEnd : AuthRead::kRefused;
  }
  if (io == Io::kBareLf) {
    const bool end = clientError(r(500, "5.5.2", "Error: lines must end with CRLF"));
    co_return end ? AuthRead::kEnd : AuthRead::kRefused;
  }
  if (io != Io::kOk) {
    co_return AuthRead::kEnd;
  }
  if (line == "*") {
    const bool end = clientError(r(501, "5.0.0", "Authentication cancelled"));
    co_return end ? AuthRead::kEnd : AuthRead::kCancelled;
  }
  auto decoded = decodeBase64(line);
  wipeSecret(line);
  if (!decoded) {
    const bool end = clientError(r(501, "5.5.2", "Cannot decode the response (base64 expected)"));
    co_return end ? AuthRead::kEnd : AuthRead::kRefused;
  }
  answer = std::move(*decoded);
  co_return AuthRead::kOk;
}

asio::awaitable<bool> Session::onAuth(std::string_view arg) {
  if (settings_.authenticator == nullptr) {
    co_return !clientError(r(502, "5.5.1", "Error: authentication not enabled"));
  }
  if (!stream_.secure()) {
    co_return !clientError(
        r(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  }
  if (helo_.empty() || !esmtp_) {
    co_return !clientError(r(503, "5.5.1", "Error: send EHLO first"));
  }
  if (auth_user_) {
    co_return !clientError(r(503, "5.5.1", "Error: already authenticated"));
  }
  if (txn_.mail_from) {
    co_return !clientError(r(503, "5.5.1", "Error: AUTH not permitted during a mail transaction"));
  }
  const auto words = splitWhitespace(arg);
  if (words.empty() || words.size() > 2) {
    co_return !clientError(r(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  }
  const std::string mechanism = toLower(words[0]);
  if (mechanism != "plain" && mechanism != "login") {
    co_return !clientError(r(504, "5.5.4", "Unrecognized authentication type"));
  }
  if (settings_.authenticator->lockedOut(client_ip_)) {
    log::warn("auth_refused",
              {{"client", client_ip_}, {"reason", "locked out after too many failures"}});
    count(settings_.metrics, metrics::RelayMetrics::Auth::kLockedOut);
    co_return !clientError(
        r(454, "4.7.0", "Too many failed authentication attempts, try again later"));
  }
  // The initial response: "=" stands for an empty one (RFC 4954 4).
  std::optional<std::string> initial;
  if (words.size() == 2) {
    std::string_view text = words[1];
    auto decoded = text == "=" ? std::optional<std::string>("") : decodeBase64(text);
    if (!decoded) {
      co_return !clientError(r(501, "5.5.2", "Cannot decode the response (base64 expected)"));
    }
    initial = std::move(decoded);
  }
  if (mechanism == "plain") {
    std::string message;
    if (initial) {
      message = std::move(*initial);
    } else {
      const AuthRead got = co_await authExchange("", message);
      if (got != AuthRead::kOk) {
        co_return got != AuthRead::kEnd;
      }
    }
    auto creds = auth::parsePlain(message);
    wipeSecret(message);
    if (!creds) {
      co_return !clientError(r(501, "5.5.2", "Malformed PLAIN response"));
    }
    const bool go_on =
        co_await authWith("PLAIN", creds->authorization_id, creds->user, creds->password);
    co_return go_on;
  }
  std::string user;
  if (initial) {
    user = std::move(*initial);
  } else {
    const AuthRead got = co_await authExchange(kUsernamePrompt, user);
    if (got != AuthRead::kOk) {
      co_return got != AuthRead::kEnd;
    }
  }
  std::string password;
  const AuthRead got = co_await authExchange(kPasswordPrompt, password);
  if (got != AuthRead::kOk) {
    co_return got != AuthRead::kEnd;
  }
  const bool go_on = co_await authWith("LOGIN", "", user, password);
  co_return go_on;
}

asio::awaitable<bool> Session::authWith(std::string_view mechanism, const std::string& authzid,
                                        const std::string& user, std::string& password) {
  auth::Authenticator::Result result;
  if (!authzid.empty() && authzid != user) {
    // Acting for another user is not supported: refuse rather than ignore it.
    result = settings_.authenticator->fail(client_ip_, user, mechanism,
                                           "authorization identity differs from the user");
  } else {
    result = co_await settings_.authenticator->authenticate(client_ip_, user, password, mechanism);
  }
  wipeSecret(password);
  count(settings_.metrics, result.outcome == auth::Authenticator::Outcome::kOk
                               ? metrics::RelayMetrics::Auth::kSuccess
                           : result.outcome == auth::Authenticator::Outcome::kLockedOut
                               ? metrics::RelayMetrics::Auth::kLockedOut
                               : metrics::RelayMetrics::Auth::kFailure);
  if (result.outcome == auth::Authenticator::Outcome::kOk) {
    auth_user_ = user;
    reply(r(235, "2.7.0", "Authentication successful"));
    co_return true;
  }
  if (result.outcome == auth::Authenticator::Outcome::kUnavailable) {
    // The directory gave no answer ([auth.ldap]): the client may try again later (RFC 4954).
    co_return !clientError(r(454, "4.7.0", "Temporary authentication failure"));
  }
  if (result.outcome == auth::Authenticator::Outcome::kLockedOut) {
    co_return !clientError(
        r(454, "4.7.0", "Too many failed authentication attempts, try again later"));
  }
  if (result.delay.count() > 0) {
    // Brute-force delay: the reply (and so the next attempt on this connection) waits.
    const bool flushed = co_await flush();
    if (!flushed) {
      co_return false;
    }
    timer_.expires_after(result.delay);
    co_await timer_.async_wait(kUseTuple);
  }
  co_return !clientError(r(535, "5.7.8", "Authentication credentials invalid"));
}

}  // namespace relayguard::smtp
