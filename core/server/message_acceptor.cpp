// message_acceptor: end-of-DATA handling for the relay (see message_acceptor.hpp).
#include "core/server/message_acceptor.hpp"

#include <spdlog/spdlog.h>

#include "core/util/blocking.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

// Postfix's hopcount_limit: a message that has passed this many relays is looping.
constexpr std::size_t kMaxHops = 50;

}  // namespace

std::string receivedHeader(const Envelope& env, const std::string& hostname,
                           const std::string& queue_id) {
  const bool v6 = env.client_ip.find(':') != std::string::npos;
  std::string protocol = env.esmtp ? "ESMTP" : "SMTP";
  if (env.esmtp && env.tls) {
    protocol += "S";
  }
  if (env.esmtp && env.auth_user) {
    protocol += "A";
  }
  std::string h = "Received: from " + env.helo + " ([" + (v6 ? "IPv6:" : "") + env.client_ip +
                  "])\r\n\tby " + hostname + " (relayguard) with " + protocol + " id " + queue_id;
  if (env.rcpt_to.size() == 1) {
    h += "\r\n\tfor " + env.rcpt_to.front().bracketed();
  }
  h += "; " + rfc5322Date(env.received) + "\r\n";
  return h;
}

std::size_t countReceived(std::string_view message) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const auto eol = message.find("\r\n", pos);
    const auto line = message.substr(pos, eol == std::string_view::npos ? std::string_view::npos
                                                                       : eol - pos);
    if (line.empty()) {
      break;  // end of the header section
    }
    if (istartsWith(line, "Received:")) {
      ++n;
    }
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 2;
  }
  return n;
}

MessageAcceptor::MessageAcceptor(const Config& config, queue::Spool& spool,
                                 asio::thread_pool& blocking, QueuedCallback on_queued)
    : config_(config), spool_(spool), blocking_(blocking), on_queued_(std::move(on_queued)) {}

asio::awaitable<smtp::Reply> MessageAcceptor::handleMessage(const Envelope& envelope,
                                                            const std::string& message) {
  if (countReceived(message) >= kMaxHops) {
    spdlog::warn("refused client={} from={}: too many hops", envelope.client_ip,
                 envelope.mail_from.bracketed());
    co_return smtp::Reply{554, "5.4.6", "Too many hops (mail loop?)"};
  }
  auto id = queue::QueueId::generate();
  std::string data = receivedHeader(envelope, config_.hostname, id.str());
  data += message;
  auto record = queue::QueuedMessage::fromEnvelope(id, envelope, data.size());
  try {
    co_await runBlocking(blocking_, [this, &record, &data] { spool_.commit(record, data); });
  } catch (const IoError& e) {
    spdlog::error("cannot queue message from client={}: {}", envelope.client_ip, e.what());
    if (e.diskFull()) {
      co_return smtp::Reply{452, "4.3.1", "Insufficient system storage, try again later"};
    }
    co_return smtp::Reply{451, "4.3.0", "Local error in processing, try again later"};
  }
  std::string rcpts;
  for (const auto& r : envelope.rcpt_to) {
    rcpts += (rcpts.empty() ? "" : ",") + r.bracketed();
  }
  spdlog::info("queued id={} client={} from={} to={} size={}", id.str(), envelope.client_ip,
               envelope.mail_from.bracketed(), rcpts, data.size());
  on_queued_(std::move(record));
  co_return smtp::Reply{250, "2.0.0", "Ok: queued as " + id.str()};
}

}  // namespace relayguard
