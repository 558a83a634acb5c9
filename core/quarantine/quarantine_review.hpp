// quarantine_review: what an operator can do with a quarantined message, and the only code that
// changes the quarantine after a message was stored:
//
//   release  the message re-enters after the verdict stages: the pipeline's outbound stages
//            (DKIM signing) run on it as on any accepted message, it is committed to the
//            delivery queue under its own id (to its recipients, or to the --to addresses
//            instead), the release is written to the audit log, and only then is the
//            quarantined copy removed;
//   delete   the deletion is written to the audit log, then the message is removed;
//   purge    deletes every message quarantined before a time (retention).
//
// Every release and delete line names the operator (the operating-system user, established by
// the caller: SO_PEERCRED on the control socket, getuid() in the CLI) and an optional reason.
//
// Safety: in a running relay all changes go through its one QuarantineReview (over the control
// socket), so there is a single audit writer; without a relay the CLI builds its own under the
// spool lock. The same id cannot be worked on twice at once (kBusy). A release interrupted by a
// crash after the queue commit is completed at the next start, before the queue is delivered
// (finishInterruptedReleases): the quarantined copy goes, so a later release cannot queue the
// message a second time after the first copy was delivered.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "core/audit/audit_log.hpp"
#include "core/quarantine/quarantine_store.hpp"
#include "core/queue/spool.hpp"
#include "filters/pipeline.hpp"

namespace relayguard {

struct ReviewRequest {
  std::string operator_user;  // who asked (the operating-system user)
  std::string reason;         // optional, free text
};

struct ReviewOutcome {
  enum class Status { kDone, kNotFound, kBusy, kFailed };
  Status status = Status::kDone;
  std::string detail;       // the error for kFailed
  std::size_t count = 0;    // purge: messages deleted
  std::size_t skipped = 0;  // purge: messages busy or already gone
};

class QuarantineReview {
 public:
  using PipelineSource = std::function<std::shared_ptr<const filters::Pipeline>()>;
  using QueuedCallback = std::function<void(queue::QueuedMessage)>;

  QuarantineReview(QuarantineStore& store, queue::Spool& spool, AuditLog& audit,
                   PipelineSource pipeline, asio::thread_pool& blocking, QueuedCallback on_queued);

  // `to` empty: the original recipients.
  asio::awaitable<ReviewOutcome> release(std::string id, std::vector<Address> to,
                                         ReviewRequest request);
  asio::awaitable<ReviewOutcome> remove(std::string id, ReviewRequest request);
  // Deletes the messages whose verdict time is before `cutoff`.
  asio::awaitable<ReviewOutcome> purge(SystemTime cutoff, ReviewRequest request);

  // Start-up, blocking, before the scheduler delivers anything: every quarantined message that
  // the queue already holds under its id was released by a run that crashed before removing the
  // quarantined copy. Its audit line is written if the crash came before it, and the copy is
  // removed. Returns how many releases were completed.
  std::size_t finishInterruptedReleases();

 private:
  class Claim;
  asio::awaitable<ReviewOutcome> releaseClaimed(const std::string& id,
                                                const std::vector<Address>& to,
                                                const ReviewRequest& request);
  // Blocking: queue commit, audit line, removal from quarantine. True when an earlier,
  // interrupted release had already queued the message.
  bool commit(const std::string& id, const queue::QueuedMessage& queued, std::string_view prefix,
              std::string_view message, const nlohmann::json& line);
  asio::awaitable<ReviewOutcome> removeClaimed(const std::string& id, const ReviewRequest& request);

  QuarantineStore& store_;
  queue::Spool& spool_;
  AuditLog& audit_;
  PipelineSource pipeline_;
  asio::thread_pool& blocking_;
  QueuedCallback on_queued_;
  std::mutex mutex_;
  std::set<std::string> in_progress_;
};

// The audit log line of a release or delete (CONTRACT.md "The audit log"), built from the
// quarantined message's record.
nlohmann::json reviewAuditLine(std::string_view event, const nlohmann::json& record,
                               const ReviewRequest& request, SystemTime time);

}  // namespace relayguard
