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
      metrics_(metrics) {
  mime_limits_.spill_dir = spool_.tmpDir();
}

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

bool MessageAcceptor::appendAudit(const nlohmann::json& record, Durable durable) {
  try {
    if (durable == Durable::kNow) {
      audit_.append(record);
    } else {
      audit_.write(record);
    }
    return true;
  } catch (const std::exception& e) {
    log::error("audit_write_failed", {{"error", e.what()}});
    return false;
  }
}

asio::awaitable<bool> MessageAcceptor::audited(const nlohmann::json& record) {
  co_return co_await runBlocking(blocking_, [this, &record] { return appendAudit(record); });
}

asio::awaitable<smtp::Reply> MessageAcceptor::handleMessage(const Envelope& envelope,
                                                            const PagedBytes& message) {
  const HeaderFacts headers = headerFacts(message.data);
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
  const auto id = queue::QueueId::generate();
  // The generation of rules this message runs on, even if a reload happens meanwhile.
  const std::shared_ptr<const filters::Pipeline> pipeline = pipeline_.load();
  // On the heap: GCC 12 warns (falsely, -Wmismatched-new-delete) about this frame holding it.
  const auto view = std::make_unique<const MessageView>(envelope, message, mime_limits_);
  filters::StageContext ctx{blocking_, resolver_, config_.hostname};
  ctx.observer = metrics_ != nullptr ? this : nullptr;
  const auto started = std::chrono::steady_clock::now();
  const filters::Verdict verdict = co_await pipeline->run(*view, ctx);
  count(verdict, std::chrono::steady_clock::now() - started);
  const auto record = verdictRecord(envelope, id.str(), headers.message_id, verdict,
                                    std::chrono::system_clock::now());
  const std::string rule = decidedBy(verdict);
  // The full record goes to the audit log; the process log gets one short line.
  log::info("verdict", {{"id", id.str()},
                        {"client", envelope.client_ip},
                        {"from", envelope.mail_from.bracketed()},
                        {"verdict", filters::toString(verdict.action)},
                        {"by", rule}});

  if (verdict.action == filters::Action::kReject || verdict.action == filters::Action::kTempfail) {
    const bool recorded = co_await audited(record);
    if (!recorded) {
      countRefusal("audit_error");
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
      log::warn("quarantined", {{"id", id.str()},
                                {"client", envelope.client_ip},
                                {"from", envelope.mail_from.bracketed()},
                                {"rule", rule}});
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
    countRefusal("storage_error");
    co_return storageFailure(e, envelope);
  }
  const bool recorded = co_await audited(stored);
  if (!recorded) {
    co_await runBlocking(blocking_, [this, &id] { return quarantine_.remove(id.str()); });
    countRefusal("audit_error");
    co_return kUnrecorded;
  }
  co_return smtp::Reply{250, "2.0.0", "Ok: queued as " + id.str()};
}

asio::awaitable<smtp::Reply> MessageAcceptor::enqueue(const queue::QueueId& id,
                                                      const Envelope& envelope,
                                                      const StoredBytes& data,
                                                      const nlohmann::json& record) {
  auto queued = queue::QueuedMessage::fromEnvelope(id, envelope, data.size());
  // In one trip to the blocking pool: the message file is placed in the queue, its verdict line
  // written, and one sync makes both durable (the queue folder's fsync, then the audit log's
  // fdatasync), shared with every session committing meanwhile: each message waits for one
  // group sync instead of one for the spool and another for the audit log. A message the audit
  // log cannot record, or that the sync cannot make durable, is taken back out of the queue
  // before anyone answers; a failed sync is a storage failure (the audit log is in the spool).
  bool recorded = false;
  std::string stored;  // the bytes for the first delivery attempt (see QueuedCallback)
  try {
    recorded = co_await runBlocking(blocking_, [this, &queued, &data, &record, &stored] {
      spool_.place(queued, data.message, data.prefix);
      try {
        if (!appendAudit(record, Durable::kShared)) {
          spool_.remove(queued.id);
          return false;
        }
        commit_sync_.afterChange([this] {
          spool_.syncQueue();
          audit_.syncWritten();
        });
      } catch (const IoError&) {
        spool_.remove(queued.id);
        throw;
      }
      if (data.message.file == nullptr && data.size() <= queue::Spool::kMapAbove) {
        stored.reserve(data.size());
        stored.append(data.prefix).append(data.message.data);
      }
      return true;
    });
  } catch (const IoError& e) {
    countRefusal("storage_error");
    co_return storageFailure(e, envelope);
  }
  if (!recorded) {
    countRefusal("audit_error");
    co_return kUnrecorded;
  }
  std::string rcpts;
  for (const auto& r : envelope.rcpt_to) {
    rcpts += (rcpts.empty() ? "" : ",") + r.bracketed();
  }
  log::info("queued", {{"id", id.str()},
                       {"client", envelope.client_ip},
                       {"from", envelope.mail_from.bracketed()},
                       {"to", rcpts},
                       {"size", data.size()}});
  on_queued_(std::move(queued), std::move(stored));
  co_return smtp::Reply{250, "2.0.0", "Ok: queued as " + id.str()};
}

}  // namespace relayguard
