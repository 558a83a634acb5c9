// message_acceptor: what the relay does with a message at the end of DATA, before it answers.
//
//   1. refuse mail loops (too many Received: fields);
//   2. run the filter pipeline in force (the current generation of rules);
//   3. act on the verdict: reject → 550 5.7.1 naming the rule, tempfail → 451 4.7.1,
//      quarantine → stored in the quarantine area, tag/accept → the stages' header fields are
//      added and the message is queued;
//   4. only a message that is durably on disk (queue or quarantine) gets 250 with its queue id;
//      a failed write answers 451 (452 when the disk is full) and nothing is kept;
//   5. every verdict (rejects too) is appended to the audit log before the reply; if it cannot
//      be recorded, the message is not kept and the client gets 451.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include <asio/thread_pool.hpp>

#include "core/audit/audit_log.hpp"
#include "core/config/config.hpp"
#include "core/message/mime_view.hpp"
#include "core/metrics/relay_metrics.hpp"
#include "core/quarantine/quarantine_store.hpp"
#include "core/queue/spool.hpp"
#include "core/smtp/session.hpp"
#include "core/util/group_sync.hpp"
#include "filters/pipeline.hpp"

namespace relayguard {

using PipelineSlot = std::atomic<std::shared_ptr<const filters::Pipeline>>;

// The Received: header (RFC 5321 4.4) the relay prepends, folded, ending in CRLF.
std::string receivedHeader(const Envelope& env, const std::string& hostname,
                           const std::string& queue_id);

// The bytes an accepted message is stored as: the header fields the relay adds, then the message
// as received, kept apart so that a large message is never copied to join them.
struct StoredBytes {
  std::string_view prefix;
  PagedBytes message;
  std::size_t size() const { return prefix.size() + message.data.size(); }
};

class MessageAcceptor : public smtp::MessageHandler, private filters::StageObserver {
 public:
  // Called once a message is durably queued, with the bytes it was stored with (what follows
  // the record line in the queue file) when they were in memory and at most Spool::kMapAbove,
  // else empty: the delivery can send them without reading the file back.
  using QueuedCallback = std::function<void(queue::QueuedMessage, std::string)>;
  MessageAcceptor(const Config& config, queue::Spool& spool, QuarantineStore& quarantine,
                  const PipelineSlot& pipeline, AuditLog& audit, asio::thread_pool& blocking,
                  QueuedCallback on_queued, dns::Resolver* resolver = nullptr,
                  metrics::RelayMetrics* metrics = nullptr);

  asio::awaitable<smtp::Reply> handleMessage(const Envelope& envelope,
                                             const PagedBytes& message) override;

 private:
  // Records the verdict; false (and a log line) when the audit log cannot be written. kNow
  // returns once the line is on disk; kShared only writes it, for enqueue's shared sync.
  // appendAudit on the calling thread (a blocking-pool job), audited from the session.
  enum class Durable { kNow, kShared };
  bool appendAudit(const nlohmann::json& record, Durable durable = Durable::kNow);
  asio::awaitable<bool> audited(const nlohmann::json& record);
  // Store in the quarantine area / the delivery queue, record the verdict, answer.
  asio::awaitable<smtp::Reply> quarantine(const queue::QueueId& id, const Envelope& envelope,
                                          const StoredBytes& data, const nlohmann::json& stored);
  asio::awaitable<smtp::Reply> enqueue(const queue::QueueId& id, const Envelope& envelope,
                                       const StoredBytes& data, const nlohmann::json& record);
  // Stage timings from the pipeline (filters::StageObserver), into the metrics.
  void stageDone(std::string_view stage, std::chrono::steady_clock::duration took) override;
  // Counts the verdict, its findings and the pipeline's time (when metrics are kept).
  void count(const filters::Verdict& verdict, std::chrono::steady_clock::duration took);
  void countRefusal(std::string_view reason);

  const Config& config_;
  queue::Spool& spool_;
  QuarantineStore& quarantine_;
  const PipelineSlot& pipeline_;
  AuditLog& audit_;
  asio::thread_pool& blocking_;
  QueuedCallback on_queued_;
  dns::Resolver* resolver_;  // for stages that need DNS (spf)
  metrics::RelayMetrics* metrics_;
  // The MIME view's limits: large attachments are decoded into unnamed files next to the
  // spilled messages (the spool's tmp/).
  MimeLimits mime_limits_;
  // enqueue's one sync per message: the fsync of the queue folder and the audit log's
  // fdatasync together, shared by every session committing at the same time.
  GroupSync commit_sync_;
};

}  // namespace relayguard
