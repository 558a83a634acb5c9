// message_acceptor: end-of-DATA handling for the relay (see message_acceptor.hpp).
#include "core/server/message_acceptor.hpp"

#include "core/audit/verdict_record.hpp"
#include "core/message/header_scan.hpp"
#include "core/util/blocking.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/log_event.hpp"

namespace relayguard {
namespace {

// Postfix's hopcount_limit: a message that has passed this many relays is looping.
constexpr std::size_t kMaxHops = 50;

// The answer when a verdict cannot be recorded: nothing is kept, the client tries again.
const smtp::Reply kUnrecorded{451, "4.3.0", "Local error in processing, try again later"};

smtp::Reply storageFailure(const IoError& e, const Envelope& envelope) {
  log::error("store_failed", {{"client", envelope.client_ip}, {"error", e.what()}});
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
                                 QueuedCallback on_queued, dns::Resolver* resolver,
                                 metrics::RelayMetrics* metrics)
    : config_(config),
      spool_(spool),
      quarantine_(quarantine),
      pipeline_(pipeline),
      audit_(audit),
      blocking_(blocking),
      on_queued_(std::move(on_queued)),
      resolver_(resolver),
      metrics_(metrics) {}

void MessageAcceptor::count(const filters::Verdict& verdict,
                            std::chrono::steady_clock::duration took) {
  if (metrics_ == nullptr) {
    return;
  }
  metrics_->pipelineTimed(took);
  const filters::Finding* decisive = verdict.decisive();
  metrics_->verdict(filters::toString(verdict.action), decisive ? decisive->stage : "",
                    decisive ? decisive->rule : "");
  for (const auto& stage : verdict.stages) {
    for (const auto& f : stage.findings) {
      metrics_->ruleMatched(f.stage, f.rule, filters::toString(f.action));
    }
  }
}

void MessageAcceptor::stageDone(std::string_view stage, std::chrono::steady_clock::duration took) {
  metrics_->stageTimed(stage, took);
}

void MessageAcceptor::countRefusal(std::string_view reason) {
  if (metrics_ != nullptr) {
    metrics_->messageRefused(reason);
  }
}

bool MessageAcceptor::appendAudit(const nlohmann::json& record) {
  try {
    audit_.append(record);
    return true;
  } catch (const std::exception& e) {
    log::error("audit_write_failed", {{"error", e.what()}});
    return false;
  }
}

asio::awaitable<smtp::Reply> MessageAcceptor::handleMessage(const Envelope& envelope,
                                                            std::string_view message) {
  const HeaderFacts headers = headerFacts(message);
  if (headers.bytes > config_.limits.max_header_bytes) {
    log::warn("refused", {{"client", envelope.client_ip},
                          {"from", envelope.mail_from.bracketed()},
                          {"reason", "header section too large"},
                          {"header_bytes", headers.bytes}});
    countRefusal("header_too_large");
    co_return smtp::Reply{552, "5.3.4", "Message header section too large"};
  }
  if (headers.received >= kMaxHops) {
    log::warn("refused", {{"client", envelope.client_ip},
                          {"from", envelope.mail_from.bracketed()},
                          {"reason", "too many hops"}});
    countRefusal("too_many_hops");
    co_return smtp::Reply{554, "5.4.6", "Too many hops (mail loop?)"};
  }
  const Accepting msg{envelope, message, headers, queue::QueueId::generate()};
  // The generation of rules this message runs on, even if a reload happens meanwhile.
  const std::shared_ptr<const filters::Pipeline> pipeline = pipeline_.load();
  const MessageView view(envelope, message);
  filters::StageContext ctx{blocking_, resolver_, config_.hostname};
  ctx.observer = metrics_ != nullptr ? this : nullptr;
  // A pipeline with a stage that waits on the network (spf) runs from here; a pipeline of
  // blocking stages only runs on the blocking pool, in the same trip as storing and recording
  // (one hand-over between threads less per message).
  std::optional<filters::Verdict> verdict;
  auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration took{};
  if (!pipeline->blockingOnly()) {
    verdict = co_await pipeline->run(view, ctx);
    took = std::chrono::steady_clock::now() - started;
  }
  co_return co_await runBlocking(blocking_, [&] {
    if (!verdict) {
      started = std::chrono::steady_clock::now();
      verdict = pipeline->runHere(view, ctx);
      took = std::chrono::steady_clock::now() - started;
    }
    return settle(msg, *verdict, took);
  });
}

smtp::Reply MessageAcceptor::settle(const Accepting& msg, const filters::Verdict& verdict,
                                    std::chrono::steady_clock::duration took) {
  count(verdict, took);
  const Envelope& envelope = msg.envelope;
  const std::string id = msg.id.str();
  const auto record = verdictRecord(envelope, id, msg.headers.message_id, verdict,
                                    std::chrono::system_clock::now());
  const std::string rule = decidedBy(verdict);
  // The full record goes to the audit log; the process log gets one short line.
  log::info("verdict", {{"id", id},
                        {"client", envelope.client_ip},
                        {"from", envelope.mail_from.bracketed()},
                        {"verdict", filters::toString(verdict.action)},
                        {"by", rule}});

  if (verdict.action == filters::Action::kReject || verdict.action == filters::Action::kTempfail) {
    if (!appendAudit(record)) {
      countRefusal("audit_error");
      return kUnrecorded;
    }
    if (verdict.action == filters::Action::kReject) {
      return smtp::Reply{550, "5.7.1", "Message rejected by policy (" + rule + ")"};
    }
    return smtp::Reply{451, "4.7.1", "Message deferred by policy, try again later"};
  }

  // What the relay adds in front; stored before the message without joining them in memory.
  const std::string prefix = receivedHeader(envelope, config_.hostname, id) + verdict.headerBlock();
  const StoredBytes data{prefix, msg.message};
  if (verdict.action == filters::Action::kQuarantine) {
    auto stored = record;
    stored["id"] = id;
    stored["subject"] = msg.headers.subject;
    stored["helo"] = envelope.helo;
    stored["size"] = data.size();
    stored["envelope"] = queue::QueuedMessage::fromEnvelope(msg.id, envelope, data.size()).toJson();
    smtp::Reply reply = quarantine(msg, data, stored);
    if (reply.positive()) {
      log::warn("quarantined", {{"id", id},
                                {"client", envelope.client_ip},
                                {"from", envelope.mail_from.bracketed()},
                                {"rule", rule}});
    }
    return reply;
  }
  return enqueue(msg, data, record);
}

smtp::Reply MessageAcceptor::quarantine(const Accepting& msg, const StoredBytes& data,
                                        const nlohmann::json& stored) {
  try {
    quarantine_.store(msg.id.str(), data.message, stored, data.prefix);
  } catch (const IoError& e) {
    countRefusal("storage_error");
    return storageFailure(e, msg.envelope);
  }
  if (!appendAudit(stored)) {
    quarantine_.remove(msg.id.str());
    countRefusal("audit_error");
    return kUnrecorded;
  }
  return smtp::Reply{250, "2.0.0", "Ok: queued as " + msg.id.str()};
}

smtp::Reply MessageAcceptor::enqueue(const Accepting& msg, const StoredBytes& data,
                                     const nlohmann::json& record) {
  auto queued = queue::QueuedMessage::fromEnvelope(msg.id, msg.envelope, data.size());
  // Committed, then the verdict line: a message the audit log cannot record is taken back out
  // of the queue before anyone answers.
  try {
    spool_.commit(queued, data.message, data.prefix);
  } catch (const IoError& e) {
    countRefusal("storage_error");
    return storageFailure(e, msg.envelope);
  }
  if (!appendAudit(record)) {
    spool_.remove(queued.id);
    countRefusal("audit_error");
    return kUnrecorded;
  }
  std::string rcpts;
  for (const auto& r : msg.envelope.rcpt_to) {
    rcpts += (rcpts.empty() ? "" : ",") + r.bracketed();
  }
  log::info("queued", {{"id", msg.id.str()},
                       {"client", msg.envelope.client_ip},
                       {"from", msg.envelope.mail_from.bracketed()},
                       {"to", rcpts},
                       {"size", data.size()}});
  on_queued_(std::move(queued));
  return smtp::Reply{250, "2.0.0", "Ok: queued as " + msg.id.str()};
}

}  // namespace relayguard
