// quarantine_review_test: the quarantine store's readers and the review operations on a real
// spool, quarantine folder and audit log: a release runs the outbound stages, queues the
// message, records the release and only then removes the quarantined copy; a release resumed
// after a crash never queues twice; a failing outbound stage keeps the message quarantined; a
// delete is recorded before the message goes.
#include "core/quarantine/quarantine_review.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/util/durable_file.hpp"
#include "core/util/time_format.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

using Status = ReviewOutcome::Status;

// Outbound stages for the tests: one adds a header (like DKIM), one fails.
class StampStage : public filters::Stage {
 public:
  std::string_view name() const override { return "stamp"; }
  filters::Phase phase() const override { return filters::Phase::kOutbound; }
  asio::awaitable<filters::StageResult> run(const MessageView& m,
                                            filters::StageContext&) const override {
    filters::StageResult r;
    r.add_headers.push_back({"X-Stamp", "for " + m.envelope().rcpt_to.front().str()});
    co_return r;
  }
};

class BrokenSignerStage : public filters::Stage {
 public:
  std::string_view name() const override { return "broken"; }
  filters::Phase phase() const override { return filters::Phase::kOutbound; }
  asio::awaitable<filters::StageResult> run(const MessageView&,
                                            filters::StageContext&) const override {
    throw std::runtime_error("key unavailable");
    co_return filters::StageResult{};
  }
};

AuditOptions auditOptions(const std::filesystem::path& dir) {
  AuditOptions o;
  o.dir = dir;
  return o;
}

const std::string kMessage = "From: a@example.test\r\nSubject: held\r\n\r\nbody\r\n";

class QuarantineReviewTest : public ::testing::Test {
 protected:
  QuarantineReviewTest()
      : spool_(dir_.path() / "spool"),
        store_(dir_.path() / "spool"),
        audit_(auditOptions(dir_.path() / "spool" / "audit")) {
    registry_.add("stamp", [](filters::StageConfig&) { return std::make_unique<StampStage>(); });
    registry_.add("broken",
                  [](filters::StageConfig&) { return std::make_unique<BrokenSignerStage>(); });
    usePipeline("[[stage]]\ntype = \"stamp\"\n");
  }

  void usePipeline(const std::string& text) {
    const auto rules = dir_.path() / "rules";
    std::filesystem::create_directories(rules);
    std::ofstream(rules / "pipeline.toml") << text;
    pipeline_ = filters::Pipeline::load(rules, registry_);
  }

  // Stores a quarantined message the way the relay does; returns its id.
  std::string quarantine(const std::string& time = rfc3339(std::chrono::system_clock::now())) {
    Envelope env;
    env.mail_from = *Address::parseMailbox("a@example.test");
    env.rcpt_to = {*Address::parseMailbox("user@example.test")};
    env.client_ip = "192.0.2.1";
    env.received = std::chrono::system_clock::now();
    const auto id = queue::QueueId::generate();
    const nlohmann::json record = {
        {"id", id.str()},
        {"time", time},
        {"message_id", "<m@example.test>"},
        {"mail_from", "a@example.test"},
        {"rcpt_to", {"user@example.test"}},
        {"verdict", "quarantine"},
        {"reasons", {"hold"}},
        {"envelope", queue::QueuedMessage::fromEnvelope(id, env, kMessage.size()).toJson()}};
    store_.store(id.str(), kMessage, record);
    return id.str();
  }

  template <class F>
  ReviewOutcome run(F operation) {
    asio::io_context io;
    asio::thread_pool blocking(1);
    QuarantineReview review(
        store_, spool_, audit_, [this] { return pipeline_; }, blocking,
        [this](queue::QueuedMessage m) { queued_.push_back(std::move(m)); });
    auto future = asio::co_spawn(io, operation(review), asio::use_future);
    io.run();
    blocking.join();
    return future.get();
  }

  std::vector<nlohmann::json> auditLines() {
    std::vector<nlohmann::json> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "spool" / "audit")) {
      std::istringstream in(readFile(e.path()));
      for (std::string line; std::getline(in, line);) {
        out.push_back(nlohmann::json::parse(line));
      }
    }
    return out;
  }

  test::TempDir dir_;
  queue::Spool spool_;
  QuarantineStore store_;
  AuditLog audit_;
  filters::StageRegistry registry_;
  std::shared_ptr<const filters::Pipeline> pipeline_;
  std::vector<queue::QueuedMessage> queued_;
  const ReviewRequest who_{"alice", "false positive"};
};

TEST_F(QuarantineReviewTest, StoreListsRecordsOldestFirstAndReportsUnreadableOnes) {
  const auto newer = quarantine("2026-11-24T10:00:00.000Z");
  const auto older = quarantine("2026-11-23T10:00:00.000Z");
  std::ofstream(store_.dir() / "notes.json") << "not a quarantine record name";
  const auto broken = queue::QueueId::generate().str();
  std::ofstream(store_.dir() / (broken + ".json")) << "{ truncated";
  std::vector<std::string> problems;
  const auto records = store_.list(&problems);
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[0]["id"], older);
  EXPECT_EQ(records[1]["id"], newer);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find(broken + ".json"), std::string::npos);
  EXPECT_EQ(store_.readMessage(older), kMessage);
  EXPECT_FALSE(store_.read("../queue/x").has_value());
  EXPECT_FALSE(store_.read(queue::QueueId::generate().str()).has_value());
}

TEST_F(QuarantineReviewTest, ReleaseRunsOutboundStagesQueuesAuditsThenRemoves) {
  const auto id = quarantine();
  const auto to = std::vector<Address>{*Address::parseMailbox("other@example.test")};
  const auto outcome = run([&](QuarantineReview& r) { return r.release(id, to, who_); });
  ASSERT_EQ(outcome.status, Status::kDone) << outcome.detail;
  const auto qid = *queue::QueueId::parse(id);
  EXPECT_EQ(spool_.readMessage(qid), "X-Stamp: for other@example.test\r\n" + kMessage);
  const auto record = spool_.read(qid);
  ASSERT_TRUE(record.has_value());
  ASSERT_EQ(record->recipients.size(), 1U);
  EXPECT_EQ(record->recipients[0].address.str(), "other@example.test");
  ASSERT_EQ(queued_.size(), 1U);
  EXPECT_FALSE(store_.read(id).has_value());

  const auto lines = auditLines();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0]["event"], "release");
  EXPECT_EQ(lines[0]["operator"], "alice");
  EXPECT_EQ(lines[0]["reason"], "false positive");
  EXPECT_EQ(lines[0]["rcpt_to"], nlohmann::json::array({"other@example.test"}));
  EXPECT_EQ(lines[0]["original_rcpt_to"], nlohmann::json::array({"user@example.test"}));
  EXPECT_EQ(lines[0]["stages"][0]["stage"], "stamp");

  EXPECT_EQ(run([&](QuarantineReview& r) { return r.release(id, {}, who_); }).status,
            Status::kNotFound);
}

TEST_F(QuarantineReviewTest, ReleaseResumedAfterACrashNeverQueuesTwice) {
  const auto id = quarantine();
  // A release that crashed after its queue commit: the queue already holds the id.
  auto earlier = queue::QueuedMessage::fromJson(store_.read(id)->at("envelope"));
  spool_.commit(earlier, "earlier copy");
  const auto outcome = run([&](QuarantineReview& r) { return r.release(id, {}, who_); });
  ASSERT_EQ(outcome.status, Status::kDone) << outcome.detail;
  EXPECT_EQ(spool_.readMessage(*queue::QueueId::parse(id)), "earlier copy");
  EXPECT_TRUE(queued_.empty());  // the scheduler recovered it at start already
  EXPECT_FALSE(store_.read(id).has_value());
  EXPECT_EQ(auditLines().size(), 1U);
}

TEST_F(QuarantineReviewTest, StartUpCompletesReleasesACrashInterrupted) {
  asio::thread_pool blocking(1);
  QuarantineReview review(
      store_, spool_, audit_, [this] { return pipeline_; }, blocking,
      [this](queue::QueuedMessage m) { queued_.push_back(std::move(m)); });
  const auto untouched = quarantine();
  EXPECT_EQ(review.finishInterruptedReleases(), 0U);
  EXPECT_TRUE(store_.read(untouched).has_value());

  // Crashed after the queue commit, before the audit line: the line is written at start-up.
  const auto before_audit = quarantine();
  spool_.commit(queue::QueuedMessage::fromJson(store_.read(before_audit)->at("envelope")), "m");
  // Crashed after the audit line, before the quarantined copy went: no second line.
  const auto after_audit = quarantine();
  spool_.commit(queue::QueuedMessage::fromJson(store_.read(after_audit)->at("envelope")), "m");
  audit_.append(reviewAuditLine("release", *store_.read(after_audit), who_,
                                std::chrono::system_clock::now()));

  EXPECT_EQ(review.finishInterruptedReleases(), 2U);
  EXPECT_FALSE(store_.read(before_audit).has_value());
  EXPECT_FALSE(store_.read(after_audit).has_value());
  EXPECT_TRUE(store_.read(untouched).has_value());
  std::map<std::string, std::vector<std::string>> operators;
  for (const auto& line : auditLines()) {
    operators[line["queue_id"]].push_back(line["operator"]);
  }
  EXPECT_EQ(operators[before_audit], std::vector<std::string>{"(unknown)"});
  EXPECT_EQ(operators[after_audit], std::vector<std::string>{"alice"});
  EXPECT_TRUE(operators[untouched].empty());
  // Once the queued copy is delivered (gone from the queue), nothing can release it again.
  spool_.remove(*queue::QueueId::parse(after_audit));
  EXPECT_EQ(run([&](QuarantineReview& r) { return r.release(after_audit, {}, who_); }).status,
            Status::kNotFound);
  blocking.join();
}

TEST_F(QuarantineReviewTest, FailingOutboundStageKeepsTheMessageQuarantined) {
  usePipeline("[[stage]]\ntype = \"broken\"\n");
  const auto id = quarantine();
  const auto outcome = run([&](QuarantineReview& r) { return r.release(id, {}, who_); });
  EXPECT_EQ(outcome.status, Status::kFailed);
  EXPECT_NE(outcome.detail.find("key unavailable"), std::string::npos) << outcome.detail;
  EXPECT_TRUE(store_.read(id).has_value());
  EXPECT_FALSE(spool_.exists(*queue::QueueId::parse(id)));
  EXPECT_TRUE(queued_.empty());
  EXPECT_TRUE(auditLines().empty());
}

TEST_F(QuarantineReviewTest, DeleteIsRecordedAndPurgeTakesOnlyOlderMessages) {
  const auto doomed = quarantine();
  const auto old = quarantine("2020-01-01T00:00:00.000Z");
  const auto fresh = quarantine();
  ASSERT_EQ(run([&](QuarantineReview& r) { return r.remove(doomed, who_); }).status, Status::kDone);
  EXPECT_FALSE(store_.read(doomed).has_value());
  EXPECT_EQ(run([&](QuarantineReview& r) { return r.remove(doomed, who_); }).status,
            Status::kNotFound);

  const auto purge = run([&](QuarantineReview& r) {
    return r.purge(std::chrono::system_clock::now() - std::chrono::hours(24),
                   ReviewRequest{"bob", ""});
  });
  EXPECT_EQ(purge.status, Status::kDone);
  EXPECT_EQ(purge.count, 1U);
  EXPECT_FALSE(store_.read(old).has_value());
  EXPECT_TRUE(store_.read(fresh).has_value());

  const auto lines = auditLines();
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0]["event"], "delete");
  EXPECT_EQ(lines[0]["queue_id"], doomed);
  EXPECT_EQ(lines[0]["operator"], "alice");
  EXPECT_EQ(lines[1]["queue_id"], old);
  EXPECT_EQ(lines[1]["operator"], "bob");
  EXPECT_NE(lines[1]["reason"].get<std::string>().find("purge: quarantined before"),
            std::string::npos);
  EXPECT_TRUE(queued_.empty());
}

}  // namespace
}  // namespace relayguard
