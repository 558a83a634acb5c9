// session: the inbound SMTP state machine (see session.hpp).
#include "core/smtp/session.hpp"

#include <charconv>
#include <cstring>

#include <asio/post.hpp>

#include "core/auth/authenticator.hpp"
#include "core/net/ip_address.hpp"
#include "core/smtp/command.hpp"
#include "core/smtp/data_reader.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/log_event.hpp"
#include "core/util/strings.hpp"

namespace relayguard::smtp {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 16384;

Reply r(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text)};
}

bool hasNonAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

bool hasControl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string Session::peerAddress(const asio::ip::tcp::socket& socket) {
  std::error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  const auto ip = net::IpAddress::parse(ep.address().to_string());
  return ip ? ip->toString() : ep.address().to_string();
}

namespace {

Reply addressReply(Address::Error e, const std::string& detail, bool recipient) {
  switch (e) {
    case Address::Error::kSourceRoute:
    case Address::Error::kRoutingHack:
      return r(553, "5.7.1", detail);
    case Address::Error::kUtf8NotDeclared:
      return r(553, "5.6.7", detail + " (use the SMTPUTF8 parameter)");
    case Address::Error::kTooLong:
      return r(501, recipient ? "5.1.3" : "5.1.7", detail);
    case Address::Error::kNoDomain:
      return r(553, recipient ? "5.1.3" : "5.1.7", detail);
    case Address::Error::kSyntax:
      break;
  }
  return r(501, recipient ? "5.1.3" : "5.1.7",
           "Bad " + std::string(recipient ? "recipient" : "sender") + " address syntax: " + detail);
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, const SessionSettings& settings,
                 MessageHandler& handler, std::string client_ip)
    : stream_(std::move(socket)),
      timer_(stream_.socket().get_executor()),
      settings_(settings),
      handler_(handler),
      client_ip_(client_ip.empty() ? peerAddress(stream_.socket()) : std::move(client_ip)) {}

void Session::shutdown() {
  asio::post(executor(), [self = shared_from_this()] {
    self->stopping_ = true;
    if (self->waiting_for_command_) {
      self->stream_.cancel();
      self->timer_.cancel();
    }
  });
}

void Session::reply(const Reply& rep) {
  out_ += rep.wire();
}

void Session::replyRaw(std::string wire) {
  out_ += wire;
}

bool Session::clientError(const Reply& rep) {
  reply(rep);
  if (++errors_ >= settings_.limits.max_errors) {
    reply(r(421, "4.7.0", settings_.hostname + " Too many errors, closing connection"));
    return true;
  }
  return false;
}

asio::awaitable<bool> Session::flush() {
  if (out_.empty()) {
    co_return true;
  }
  const bool written = (co_await stream_.writeAll(out_, settings_.limits.command_timeout)).ok();
  out_.clear();
  co_return written;
}

asio::awaitable<Session::Io> Session::readMore(Clock::time_point deadline) {
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
    if (in_.capacity() > 4 * kReadChunk) {
      in_.shrink_to_fit();  // idle sessions should not hold large buffers
    }
  } else if (in_pos_ > kReadChunk) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  // g++ 12 mis-compiles co_await inside a condition: keep results in variables.
  const bool flushed = co_await flush();
  if (!flushed) {
    co_return Io::kError;
  }
  const SmtpStream::Read result = co_await stream_.readSome(in_, deadline);
  switch (result) {
    case SmtpStream::Read::kOk:
      co_return Io::kOk;
    case SmtpStream::Read::kEof:
      co_return Io::kEof;
    case SmtpStream::Read::kTimeout:
      co_return Io::kTimeout;
    case SmtpStream::Read::kCancelled:
      co_return Io::kCancelled;
    case SmtpStream::Read::kError:
      break;
  }
  co_return Io::kError;
}

asio::awaitable<Session::Io> Session::readLine(std::string& line) {
  const std::size_t max = settings_.limits.max_command_line;
  for (;;) {
    const char* start = in_.data() + in_pos_;
    const std::size_t avail = in_.size() - in_pos_;
    const void* lf = std::memchr(start, '\n', avail);
    if (lf != nullptr) {
      const auto len = static_cast<std::size_t>(static_cast<const char*>(lf) - start);
      in_pos_ += len + 1;
      if (discarding_ || len + 1 > max) {
        discarding_ = false;
        co_return Io::kTooLong;
      }
      if (len == 0 || start[len - 1] != '\r') {
        co_return Io::kBareLf;
      }
      line.assign(start, len - 1);
      co_return Io::kOk;
    }
    if (avail > max) {
      discarding_ = true;
      in_pos_ = in_.size();
    }
    const Io io = co_await readMore(Clock::now() + settings_.limits.command_timeout);
    if (io != Io::kOk) {
      co_return io;
    }
  }
}

asio::awaitable<void> Session::run() {
  log::debug("connect", {{"client", client_ip_}, {"mode", toString(settings_.mode)}});
  if (settings_.mode == ListenerMode::kSmtps) {
    const bool secured = co_await implicitTls();
    if (!secured) {
      stream_.close();
      co_return;
    }
  }
  reply(r(220, "", settings_.hostname + " ESMTP relayguard"));
  std::string line;
  for (;;) {
    waiting_for_command_ = true;
    if (stopping_) {
      reply(r(421, "4.3.2", settings_.hostname + " Service shutting down"));
      break;
    }
    const Io io = co_await readLine(line);
    waiting_for_command_ = false;
    if (io == Io::kEof || io == Io::kError) {
      break;
    }
    if (io == Io::kCancelled) {
      if (stopping_) {
        continue;  // the loop head says goodbye
      }
      break;
    }
    if (io == Io::kTimeout) {
      reply(r(421, "4.4.2", settings_.hostname + " Error: timeout exceeded"));
      break;
    }
    if (io == Io::kTooLong) {
      if (clientError(r(500, "5.5.2", "Error: command line too long"))) {
        break;
      }
      continue;
    }
    if (io == Io::kBareLf) {
      if (clientError(r(500, "5.5.2", "Error: command lines must end with CRLF"))) {
        break;
      }
      continue;
    }
    const bool go_on = co_await dispatch(line);
    if (!go_on) {
      break;
    }
  }
  co_await flush();
  stream_.close();
  log::debug("disconnect", {{"client", client_ip_}});
}

bool Session::authRequired() const {
  return settings_.mode != ListenerMode::kRelay && !auth_user_;
}

std::vector<std::string> Session::ehloLines() const {
  std::vector<std::string> lines = {settings_.hostname,
                                    "PIPELINING",
                                    "SIZE " + std::to_string(settings_.limits.max_message_size),
                                    "8BITMIME",
                                    "ENHANCEDSTATUSCODES",
                                    "SMTPUTF8"};
  if (tlsOffered()) {
    lines.push_back("STARTTLS");
  }
  if (authOffered()) {
    lines.push_back("AUTH PLAIN LOGIN");
  }
  return lines;
}

asio::awaitable<bool> Session::dispatch(const std::string& line) {
  if (line.find('\0') != std::string::npos || hasControl(line)) {
    co_return !clientError(r(500, "5.5.2", "Error: control characters in command"));
  }
  const Command cmd = parseCommand(line);
  const bool utf8_ok = (cmd.verb == Verb::kMail) || (cmd.verb == Verb::kRcpt && txn_.smtputf8);
  if (hasNonAscii(line) && !utf8_ok) {
    co_return !clientError(r(500, "5.5.2", "Error: non-ASCII characters in command"));
  }
  switch (cmd.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      if (cmd.argument.empty() || hasNonAscii(cmd.argument)) {
        co_return !clientError(
            r(501, "5.5.4",
              "Syntax: " + std::string(cmd.verb == Verb::kEhlo ? "EHLO" : "HELO") + " hostname"));
      }
      onHelo(cmd.argument, cmd.verb == Verb::kEhlo);
      co_return true;
    case Verb::kMail:
      co_return onMail(cmd.argument);
    case Verb::kRcpt:
      co_return onRcpt(cmd.argument);
    case Verb::kData:
      if (!cmd.argument.empty()) {
        co_return !clientError(r(501, "5.5.4", "Syntax: DATA takes no arguments"));
      }
      co_return co_await onData();
    case Verb::kRset:
      resetTransaction();
      reply(r(250, "2.0.0", "Ok"));
      co_return true;
    case Verb::kNoop:
      reply(r(250, "2.0.0", "Ok"));
      co_return true;
    case Verb::kQuit:
      reply(r(221, "2.0.0", "Bye"));
      co_return false;
    case Verb::kVrfy:
      reply(r(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
      co_return true;
    case Verb::kHelp:
      reply(r(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"));
      co_return true;
    case Verb::kStartTls:
      co_return co_await onStartTls(cmd.argument);
    case Verb::kAuth:
      co_return co_await onAuth(cmd.argument);
    case Verb::kExpn:
    case Verb::kBdat:
      co_return !clientError(r(502, "5.5.1", "Error: command not implemented"));
    case Verb::kUnknown:
      break;
  }
  co_return !clientError(r(500, "5.5.2", "Error: command not recognized"));
}

void Session::onHelo(std::string_view arg, bool extended) {
  helo_ = std::string(splitWhitespace(arg).front());
  esmtp_ = extended;
  resetTransaction();
  if (extended) {
    replyRaw(multilineWire(250, ehloLines()));
  } else {
    reply(r(250, "", settings_.hostname));
  }
}

bool Session::onMail(std::string_view arg) {
  if (helo_.empty()) {
    return !clientError(r(503, "5.5.1", "Error: send HELO/EHLO first"));
  }
  if (txn_.mail_from) {
    return !clientError(r(503, "5.5.1", "Error: nested MAIL command"));
  }
  if (authRequired()) {
    return !clientError(r(530, "5.7.0", "Authentication required"));
  }
  const auto parsed = parsePathArgument(arg, "FROM:");
  if (!parsed.value) {
    return !clientError(r(501, "5.5.4", parsed.error));
  }
  Transaction txn;
  for (const auto& p : parsed.value->params) {
    if (!esmtp_) {
      return !clientError(r(555, "5.5.4", "MAIL parameters need EHLO"));
    }
    if (p.keyword == "SIZE") {
      std::uint64_t size = 0;
      const auto [ptr, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), size);
      if (ec != std::errc() || ptr != p.value.data() + p.value.size() || p.value.empty()) {
        return !clientError(r(501, "5.5.4", "Bad SIZE parameter"));
      }
      if (size > settings_.limits.max_message_size) {
        reply(r(552, "5.3.4", "Message size exceeds fixed maximum message size"));
        return true;
      }
    } else if (p.keyword == "BODY") {
      const std::string v = toLower(p.value);
      if (v != "7bit" && v != "8bitmime") {
        return !clientError(r(501, "5.5.4", "Bad BODY parameter"));
      }
      txn.body_8bit = v == "8bitmime";
    } else if (p.keyword == "SMTPUTF8" && p.value.empty()) {
      txn.smtputf8 = true;
    } else {
      return !clientError(r(555, "5.5.4", "Unsupported MAIL parameter " + p.keyword));
    }
  }
  if (hasNonAscii(parsed.value->path) && !txn.smtputf8) {
    return !clientError(r(553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter"));
  }
  const auto addr = Address::parsePath(parsed.value->path, true, txn.smtputf8);
  if (!addr.address) {
    return !clientError(addressReply(addr.error, addr.detail, false));
  }
  if (auth_user_ && settings_.authenticator != nullptr &&
      !settings_.authenticator->allowMessage(*auth_user_)) {
    log::warn("rate_limited", {{"client", client_ip_},
                               {"user", auth::printableUser(*auth_user_)},
                               {"reason", "user_messages_per_minute reached"}});
    reply(r(450, "4.7.1", "Sending rate limit exceeded, try again later"));
    return true;
  }
  txn.mail_from = *addr.address;
  txn_ = std::move(txn);
  reply(r(250, "2.1.0", "Ok"));
  return true;
}

bool Session::onRcpt(std::string_view arg) {
  if (!txn_.mail_from) {
    return !clientError(r(503, "5.5.1", "Error: need MAIL command"));
  }
  const auto parsed = parsePathArgument(arg, "TO:");
  if (!parsed.value) {
    return !clientError(r(501, "5.5.4", parsed.error));
  }
  if (!parsed.value->params.empty()) {
    return !clientError(
        r(555, "5.5.4", "Unsupported RCPT parameter " + parsed.value->params.front().keyword));
  }
  const auto addr = Address::parsePath(parsed.value->path, false, txn_.smtputf8);
  if (!addr.address) {
    return !clientError(addressReply(addr.error, addr.detail, true));
  }
  if (settings_.access != nullptr && settings_.mode == ListenerMode::kRelay && !auth_user_) {
    const auto ip = net::IpAddress::parse(client_ip_);
    if (!ip || !settings_.access->relayAllowed(*ip)) {
      log::warn("relay_denied", {{"client", client_ip_}, {"rcpt", addr.address->str()}});
      return !clientError(r(554, "5.7.1", addr.address->bracketed() + ": Relay access denied"));
    }
  }
  if (settings_.routable && !settings_.routable(*addr.address)) {
    return !clientError(r(550, "5.4.4", addr.address->bracketed() + ": no route to this domain"));
  }
  if (txn_.rcpt_to.size() >= settings_.limits.max_recipients) {
    reply(r(452, "4.5.3", "Error: too many recipients"));
    return true;
  }
  txn_.rcpt_to.push_back(*addr.address);
  reply(r(250, "2.1.5", "Ok"));
  return true;
}

asio::awaitable<bool> Session::onData() {
  if (!txn_.mail_from) {
    co_return !clientError(r(503, "5.5.1", "Error: need MAIL command"));
  }
  if (txn_.rcpt_to.empty()) {
    co_return !clientError(r(554, "5.5.1", "Error: no valid recipients"));
  }
  reply(r(354, "", "End data with <CR><LF>.<CR><LF>"));
  DataReader reader(settings_.limits.max_message_size, settings_.limits.max_text_line,
                    MessageBuffer(settings_.spill_dir, settings_.spill_threshold));
  const auto deadline = Clock::now() + settings_.limits.data_timeout;
  for (;;) {
    in_pos_ += reader.feed(std::string_view(in_).substr(in_pos_));
    if (reader.done()) {
      break;
    }
    const auto per_read = Clock::now() + settings_.limits.command_timeout;
    const Io io = co_await readMore(std::min(deadline, per_read));
    if (io == Io::kTimeout) {
      reply(r(421, "4.4.2", settings_.hostname + " Error: timeout exceeded"));
      co_return false;
    }
    if (io != Io::kOk) {
      co_return false;  // the client went away mid-message: nothing was accepted
    }
  }
  Transaction txn = std::move(txn_);
  resetTransaction();
  const PagedBytes message = reader.message();  // may still fail (kStorage)
  const auto problems = reader.problems();
  if (problems != DataReader::kNone) {
    Reply refusal;
    if (problems & DataReader::kTooBig) {
      refusal = r(552, "5.3.4", "Message size exceeds fixed maximum message size");
    } else if (problems & (DataReader::kBareLf | DataReader::kBareCr)) {
      refusal = r(550, "5.6.0", "Message refused: bare CR or LF in message data (RFC 5321 2.3.8)");
    } else if (problems & DataReader::kNul) {
      refusal = r(550, "5.6.0", "Message refused: NUL character in message data");
    } else if (problems & DataReader::kLineTooLong) {
      refusal = r(550, "5.6.0",
                  "Message refused: line longer than " +
                      std::to_string(settings_.limits.max_text_line) + " octets");
    } else {
      // Not the client's fault: the message could not be stored while it arrived.
      const int err = reader.storageError();
      log::error("message_not_stored", {{"client", client_ip_},
                                        {"from", txn.mail_from->bracketed()},
                                        {"error", std::strerror(err)}});
      reply(diskFullError(err) ? r(452, "4.3.1", "Insufficient system storage")
                               : r(451, "4.3.0", "Local error in processing, try again later"));
      co_return true;
    }
    log::warn("refused", {{"client", client_ip_},
                          {"from", txn.mail_from->bracketed()},
                          {"reason", refusal.oneLine()}});
    co_return !clientError(refusal);
  }
  Envelope env;
  env.mail_from = *txn.mail_from;
  env.rcpt_to = std::move(txn.rcpt_to);
  env.client_ip = client_ip_;
  env.helo = helo_;
  env.esmtp = esmtp_;
  env.auth_user = auth_user_;
  env.tls = stream_.secure();
  env.smtputf8 = txn.smtputf8;
  env.body_8bit = txn.body_8bit;
  env.received = std::chrono::system_clock::now();
  Reply result;
  try {
    result = co_await handler_.handleMessage(env, message);
  } catch (const std::exception& e) {
    log::error("message_failed", {{"client", client_ip_}, {"error", e.what()}});
    result = r(451, "4.3.0", "Local error in processing, try again later");
  }
  reply(result);
  co_return true;
}

}  // namespace relayguard::smtp
