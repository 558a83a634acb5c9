// quarantine_review: release, delete and purge of quarantined messages (see
// quarantine_review.hpp).
#include "core/quarantine/quarantine_review.hpp"

#include "core/audit/audit_search.hpp"
#include "core/message/message_view.hpp"
#include "core/util/blocking.hpp"
#include "core/util/log_event.hpp"

namespace relayguard {

// Marks an id as being worked on for the life of the claim; false if it already was.
class QuarantineReview::Claim {
 public:
  Claim(QuarantineReview& owner, std::string id) : owner_(owner), id_(std::move(id)) {
    const std::lock_guard lock(owner_.mutex_);
    held_ = owner_.in_progress_.insert(id_).second;
  }
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  ~Claim() {
    if (held_) {
      const std::lock_guard lock(owner_.mutex_);
      owner_.in_progress_.erase(id_);
    }
  }
  explicit operator bool() const { return held_; }

 private:
  QuarantineReview& owner_;
  std::string id_;
  bool held_ = false;
};

namespace {

using Status = ReviewOutcome::Status;

ReviewOutcome failed(std::string what) {
  return ReviewOutcome{Status::kFailed, std::move(what), 0, 0};
}

// The queue record a released message gets: the stored envelope, every recipient pending (or
// the operator's `to` instead), due now.
queue::QueuedMessage queuedFrom(const nlohmann::json& record, const std::vector<Address>& to) {
  const auto it = record.find("envelope");
  if (it == record.end() || !it->is_object()) {
    throw std::runtime_error("the quarantine record has no envelope");
  }
  queue::QueuedMessage m = queue::QueuedMessage::fromJson(*it);
  if (!to.empty()) {
    m.envelope.rcpt_to = to;
    m.recipients.clear();
    for (const auto& a : to) {
      queue::RecipientState r;
      r.address = a;
      m.recipients.push_back(std::move(r));
    }
  }
  for (auto& r : m.recipients) {
    r.status = queue::RecipientStatus::kPending;
    r.last_reply.clear();
  }
  m.attempts = 0;
  m.last_error.clear();
  m.next_attempt = std::chrono::system_clock::now();
  return m;
}

// The audit line of a release: who, why, to whom, and what the outbound stages did.
nlohmann::json releaseLine(const nlohmann::json& record, const ReviewRequest& request,
                           const std::vector<Address>& rcpt_to, const std::vector<Address>& to,
                           const filters::Verdict& outbound) {
  nlohmann::json line =
      reviewAuditLine("release", record, request, std::chrono::system_clock::now());
  if (!to.empty()) {
    line["original_rcpt_to"] = line["rcpt_to"];
  }
  nlohmann::json rcpts = nlohmann::json::array();
  for (const auto& r : rcpt_to) {
    rcpts.push_back(r.str());
  }
  line["rcpt_to"] = rcpts;
  line["stages"] = outbound.stagesJson();
  return line;
}

}  // namespace

nlohmann::json reviewAuditLine(std::string_view event, const nlohmann::json& record,
                               const ReviewRequest& request, SystemTime time) {
  const auto field = [&record](const char* key) {
    return record.contains(key) ? record[key] : nlohmann::json(nullptr);
  };
  return {{"time", rfc3339(time)},
          {"event", event},
          {"queue_id", field("id")},
          {"message_id", field("message_id")},
          {"operator", request.operator_user},
          {"reason", request.reason},
          {"mail_from", field("mail_from")},
          {"rcpt_to", field("rcpt_to")},
          {"verdict", field("verdict")},
          {"reasons", field("reasons")}};
}

QuarantineReview::QuarantineReview(QuarantineStore& store, queue::Spool& spool, AuditLog& audit,
                                   PipelineSource pipeline, asio::thread_pool& blocking,
                                   QueuedCallback on_queued)
    : store_(store),
      spool_(spool),
      audit_(audit),
      pipeline_(std::move(pipeline)),
      blocking_(blocking),
      on_queued_(std::move(on_queued)) {}

asio::awaitable<ReviewOutcome> QuarantineReview::release(std::string id, std::vector<Address> to,
                                                         ReviewRequest request) {
  const Claim claim(*this, id);
  if (!claim) {
    co_return ReviewOutcome{Status::kBusy, "", 0, 0};
  }
  try {
    co_return co_await releaseClaimed(id, to, request);
  } catch (const std::exception& e) {
    log::error("release_failed", {{"id", id}, {"error", e.what()}});
    co_return failed(e.what());
  }
}

asio::awaitable<ReviewOutcome> QuarantineReview::releaseClaimed(const std::string& id,
                                                                const std::vector<Address>& to,
                                                                const ReviewRequest& request) {
  std::optional<nlohmann::json> record;
  std::optional<std::string> message;
  co_await runBlocking(blocking_, [this, &id, &record, &message] {
    record = store_.read(id);
    message = store_.readMessage(id);
  });
  if (!record || !message) {
    co_return ReviewOutcome{Status::kNotFound, "", 0, 0};
  }
  queue::QueuedMessage queued = queuedFrom(*record, to);

  // After the verdict stages: the outbound ones (DKIM) prepare it like any accepted message.
  const std::shared_ptr<const filters::Pipeline> pipeline = pipeline_();
  // On the heap: GCC 12 warns (falsely, -Wmismatched-new-delete) about this frame holding it.
  const auto view = std::make_unique<const MessageView>(queued.envelope, *message);
  filters::StageContext ctx{blocking_};
  const filters::Verdict outbound = co_await pipeline->runOutbound(*view, ctx);
  if (outbound.action > filters::Action::kTag) {
    std::string why;
    for (const auto& s : outbound.stages) {
      why += (why.empty() ? "" : "; ") + s.stage + ": " + (s.error.empty() ? "refused" : s.error);
    }
    co_return failed("outbound stages refused the message (" + why + "); it stays quarantined");
  }
  const std::string prefix = outbound.headerBlock();
  queued.size = prefix.size() + message->size();

  const nlohmann::json line = releaseLine(*record, request, queued.envelope.rcpt_to, to, outbound);
  const bool resumed =
      co_await runBlocking(blocking_, [this, &id, &queued, &prefix, &message, &line] {
        return commit(id, queued, prefix, *message, line);
      });
  log::info("released", {{"id", id},
                         {"operator", request.operator_user},
                         {"added_headers", outbound.add_headers.size()}});
  if (!resumed) {
    on_queued_(std::move(queued));
  }
  co_return ReviewOutcome{};
}

bool QuarantineReview::commit(const std::string& id, const queue::QueuedMessage& queued,
                              std::string_view prefix, std::string_view message,
                              const nlohmann::json& line) {
  // An earlier release that crashed after its queue commit: finish it, never queue twice.
  const bool already_queued = spool_.exists(queued.id);
  if (!already_queued) {
    spool_.commit(queued, message, prefix);
  }
  try {
    audit_.append(line);
  } catch (...) {
    if (!already_queued) {
      spool_.remove(queued.id);
    }
    throw;
  }
  store_.remove(id);
  return already_queued;
}

std::size_t QuarantineReview::finishInterruptedReleases() {
  std::size_t finished = 0;
  for (const auto& record : store_.list()) {
    const std::string id = record.value("id", "");
    const auto qid = queue::QueueId::parse(id);
    if (!qid || !spool_.exists(*qid)) {
      continue;
    }
    AuditQuery query;
    query.queue_id = id;
    bool recorded = false;
    searchAuditLog(audit_.dir(), query, [&recorded](const std::string&, const nlohmann::json& l) {
      recorded = recorded || l.value("event", "") == "release";
    });
    if (!recorded) {
      // The operator's request died with the crash; the queued copy will be delivered, so the
      // log must still show the release.
      const ReviewRequest unknown{"(unknown)", "release completed at start-up after a crash"};
      nlohmann::json line =
          reviewAuditLine("release", record, unknown, std::chrono::system_clock::now());
      if (const auto queued = spool_.read(*qid)) {
        line["rcpt_to"] = nlohmann::json::array();
        for (const auto& a : queued->envelope.rcpt_to) {
          line["rcpt_to"].push_back(a.str());
        }
      }
      audit_.append(std::move(line));
    }
    store_.remove(id);
    log::warn("release_completed_at_start", {{"id", id}});
    ++finished;
  }
  return finished;
}

asio::awaitable<ReviewOutcome> QuarantineReview::remove(std::string id, ReviewRequest request) {
  const Claim claim(*this, id);
  if (!claim) {
    co_return ReviewOutcome{Status::kBusy, "", 0, 0};
  }
  try {
    co_return co_await removeClaimed(id, request);
  } catch (const std::exception& e) {
    log::error("delete_failed", {{"id", id}, {"error", e.what()}});
    co_return failed(e.what());
  }
}

asio::awaitable<ReviewOutcome> QuarantineReview::removeClaimed(const std::string& id,
                                                               const ReviewRequest& request) {
  const bool found = co_await runBlocking(blocking_, [this, &id, &request] {
    const auto record = store_.read(id);
    if (!record) {
      return false;
    }
    // Recorded first: a deletion the audit log cannot show does not happen.
    audit_.append(reviewAuditLine("delete", *record, request, std::chrono::system_clock::now()));
    store_.remove(id);
    return true;
  });
  if (!found) {
    co_return ReviewOutcome{Status::kNotFound, "", 0, 0};
  }
  log::info("deleted", {{"id", id}, {"operator", request.operator_user}});
  co_return ReviewOutcome{};
}

asio::awaitable<ReviewOutcome> QuarantineReview::purge(SystemTime cutoff, ReviewRequest request) {
  const std::string before = rfc3339(cutoff);
  if (request.reason.empty()) {
    request.reason = "purge: quarantined before " + before;
  }
  const auto records = co_await runBlocking(blocking_, [this] { return store_.list(); });
  ReviewOutcome total;
  for (const auto& record : records) {
    const std::string time = record.value("time", "");
    const std::string id = record.value("id", "");
    if (time.empty() || time >= before) {
      continue;
    }
    const ReviewOutcome one = co_await remove(id, request);
    if (one.status == Status::kFailed) {
      total.status = Status::kFailed;
      total.detail = one.detail;
      break;
    }
    (one.status == Status::kDone ? total.count : total.skipped) += 1;
  }
  co_return total;
}

}  // namespace relayguard
