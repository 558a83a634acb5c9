// message_acceptor: end-of-DATA handling for the relay (see message_acceptor.hpp).
#include "core/server/message_acceptor.hpp"

#include <spdlog/spdlog.h>

#include "core/audit/verdict_record.hpp"
#include "core/message/header_scan.hpp"
#include "core/util/blocking.hpp"
#include "core/util/durable_file.hpp"

namespace relayguard {
namespace {

// Postfix's hopcount_limit: a message that has passed this many relays is looping.
constexpr std::size_t kMaxHops = 50;

// The answer when a verdict cannot be recorded: nothing is kept, the client tries again.
const smtp::Reply kUnrecorded{451, "4.3.0", "Local error in processing, try again later"};

smtp::Reply storageFailure(const IoError& e, const Envelope& envelope) {
  spdlog::error("cannot store message from client={}: {}", envelope.client_ip, e.what());
  if (e.diskFull()) {
    return smtp::Reply{452, "4.3.1", "Insufficient system storage, try again later"};
  }
  return smtp::Reply{451, "4.3.0", "Local error in processing, try again later"};
}

std::string decidedBy(const filters::Verdict& verdict) {
  const filters::Finding* f = verdict.decisive();
  if (f == nullptr) {
    return "policy";
  }
  return f->rule.empty() ? f->stage : f->rule;
}

}  // namespace

std::string receivedHeader(const Envelope& env, const std::string& hostname,
                           const std::string& queue_id) {
  std::string h;
  if (env.client_ip.empty()) {  // a local source (the pickup folder): no peer to name
    h = "Received: by " + hostname + " (relayguard " + env.helo + ") id " + queue_id;
  } else {
    const bool v6 = env.client_ip.find(':') != std::string::npos;
    std::string protocol = env.esmtp ? "ESMTP" : "SMTP";
    if (env.esmtp && env.tls) {
      protocol += "S";
    }
    if (env.esmtp && env.auth_user) {
      protocol += "A";
    }
    h = "Received: from " + env.helo + " ([" + (v6 ? "IPv6:" : "") + env.client_ip + "])\r\n\tby " +
        hostname + " (relayguard) with " + protocol + " id " + queue_id;
  }
  if (env.rcpt_to.size() == 1) {
    h += "\r\n\tfor " + env.rcpt_to.front().bracketed();
  }
  h += "; " + rfc5322Date(env.received) + "\r\n";
  return h;
}

MessageAcceptor::MessageAcceptor(const Config& config, queue::Spool& spool,
                                 QuarantineStore& quarantine, const PipelineSlot& pipeline,
                                 AuditLog& audit, asio::thread_pool& blocking,
                                 QueuedCallback on_queued, dns::Resolver* resolver)
    : config_(config),
      spool_(spool),
      quarantine_(quarantine),
      pipeline_(pipeline),
      audit_(audit),
      blocking_(blocking),
      on_queued_(std::move(on_queued)),
      resolver_(resolver) {}

asio::awaitable<bool> MessageAcceptor::audited(const nlohmann::json& record) {
  try {
    co_await runBlocking(blocking_, [this, &record] { audit_.append(record); });
    co_return true;
  } catch (const std::exception& e) {
    spdlog::error("cannot write the audit log: {}", e.what());
    co_return false;
  }
}

asio::awaitable<smtp::Reply> MessageAcceptor::handleMessage(const Envelope& envelope,
                                                            const std::string& message) {
  const HeaderFacts headers = headerFacts(message);
  if (headers.bytes > config_.limits.max_header_bytes) {
    spdlog::warn("refused client={} from={}: header section of {} bytes", envelope.client_ip,
                 envelope.mail_from.bracketed(), headers.bytes);
    co_return smtp::Reply{552, "5.3.4", "Message header section too large"};
  }
  if (headers.received >= kMaxHops) {
    spdlog::warn("refused client={} from={}: too many hops", envelope.client_ip,
                 envelope.mail_from.bracketed());
    co_return smtp::Reply{554, "5.4.6", "Too many hops (mail loop?)"};
  }
  const auto id = queue::QueueId::generate();
  // The generation of rules this message runs on, even if a reload happens meanwhile.
  const std::shared_ptr<const filters::Pipeline> pipeline = pipeline_.load();
  const MessageView view(envelope, message);
  filters::StageContext ctx{blocking_, resolver_, config_.hostname};
  const filters::Verdict verdict = co_await pipeline->run(view, ctx);
  const auto record = verdictRecord(envelope, id.str(), headers.message_id, verdict,
                                    std::chrono::system_clock::now());
  const std::string rule = decidedBy(verdict);
  // The full record goes to the audit log; the process log gets one short line.
  spdlog::info("verdict id={} client={} from={} verdict={} by={}", id.str(), envelope.client_ip,
               envelope.mail_from.bracketed(), filters::toString(verdict.action), rule);

  if (verdict.action == filters::Action::kReject || verdict.action == filters::Action::kTempfail) {
    const bool recorded = co_await audited(record);
    if (!recorded) {
      co_return kUnrecorded;
    }
    if (verdict.action == filters::Action::kReject) {
      co_return smtp::Reply{550, "5.7.1", "Message rejected by policy (" + rule + ")"};
    }
    co_return smtp::Reply{451, "4.7.1", "Message deferred by policy, try again later"};
  }

  // What the relay adds in front; stored before the message without joining them in memory.
  const std::string prefix =
      receivedHeader(envelope, config_.hostname, id.str()) + verdict.headerBlock();
  const StoredBytes data{prefix, message};
  if (verdict.action == filters::Action::kQuarantine) {
    auto stored = record;
    stored["id"] = id.str();
    stored["subject"] = headers.subject;
    stored["helo"] = envelope.helo;
    stored["size"] = data.size();
    stored["envelope"] = queue::QueuedMessage::fromEnvelope(id, envelope, data.size()).toJson();
    const smtp::Reply reply = co_await quarantine(id, envelope, data, stored);
    if (reply.positive()) {
      spdlog::warn("quarantined id={} client={} from={} rule={}", id.str(), envelope.client_ip,
                   envelope.mail_from.bracketed(), rule);
    }
    co_return reply;
  }
  co_return co_await enqueue(id, envelope, data, record);
}

asio::awaitable<smtp::Reply> MessageAcceptor::quarantine(const queue::QueueId& id,
                                                         const Envelope& envelope,
                                                         const StoredBytes& data,
                                                         const nlohmann::json& stored) {
  try {
    co_await runBlocking(blocking_, [this, &id, &data, &stored] {
      quarantine_.store(id.str(), data.message, stored, data.prefix);
    });
  } catch (const IoError& e) {
    co_return storageFailure(e, envelope);
  }
  const bool recorded = co_await audited(stored);
  if (!recorded) {
    co_await runBlocking(blocking_, [this, &id] { return quarantine_.remove(id.str()); });
    co_return kUnrecorded;
  }
  co_return smtp::Reply{250, "2.0.0", "Ok: queued as " + id.str()};
}

asio::awaitable<smtp::Reply> MessageAcceptor::enqueue(const queue::QueueId& id,
                                                      const Envelope& envelope,
                                                      const StoredBytes& data,
                                                      const nlohmann::json& record) {
  auto queued = queue::QueuedMessage::fromEnvelope(id, envelope, data.size());
  try {
    co_await runBlocking(
        blocking_, [this, &queued, &data] { spool_.commit(queued, data.message, data.prefix); });
  } catch (const IoError& e) {
    co_return storageFailure(e, envelope);
  }
  const bool recorded = co_await audited(record);
  if (!recorded) {
    co_await runBlocking(blocking_, [this, &id] { return spool_.remove(id); });
    co_return kUnrecorded;
  }
  std::string rcpts;
  for (const auto& r : envelope.rcpt_to) {
    rcpts += (rcpts.empty() ? "" : ",") + r.bracketed();
  }
  spdlog::info("queued id={} client={} from={} to={} size={}", id.str(), envelope.client_ip,
               envelope.mail_from.bracketed(), rcpts, data.size());
  on_queued_(std::move(queued));
  co_return smtp::Reply{250, "2.0.0", "Ok: queued as " + id.str()};
}

}  // namespace relayguard
