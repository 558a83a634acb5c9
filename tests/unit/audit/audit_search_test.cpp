// audit_search_test: the auditor's filters over audit lines: by message, by rule over a time
// range, by sender, recipient and verdict; anchors never match.
#include "core/audit/audit_search.hpp"

#include <gtest/gtest.h>

#include "core/audit/audit_log.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

const nlohmann::json kVerdict = {
    {"time", "2026-11-20T10:00:00.000Z"},
    {"event", "verdict"},
    {"queue_id", "AAAAAAAA11111111"},
    {"message_id", "<m1@app.test>"},
    {"mail_from", "App@app.test"},
    {"rcpt_to", {"a@ext.test", "b@ext.test"}},
    {"verdict", "quarantine"},
    {"reasons", {"att-exe"}},
    {"stages", {{{"stage", "attachments"}, {"result", "quarantine"}, {"rule", "att-exe"}}}}};

const nlohmann::json kDelivery = {
    {"time", "2026-11-21T10:00:00.000Z"}, {"event", "delivery"},  {"queue_id", "BBBBBBBB22222222"},
    {"mail_from", "x@app.test"},          {"rcpt", "c@ext.test"}, {"result", "delivered"}};

TEST(AuditQuery, EmptyQueryMatchesEverythingButAnchors) {
  EXPECT_TRUE(AuditQuery{}.matches(kVerdict));
  EXPECT_TRUE(AuditQuery{}.matches(kDelivery));
  EXPECT_FALSE(AuditQuery{}.matches({{"event", "anchor"}, {"time", "2026-11-20T10:00:00Z"}}));
}

TEST(AuditQuery, FindsAMessageByQueueIdOrMessageId) {
  AuditQuery q;
  q.queue_id = "AAAAAAAA11111111";
  EXPECT_TRUE(q.matches(kVerdict));
  EXPECT_FALSE(q.matches(kDelivery));
  AuditQuery m;
  m.message_id = "m1@app.test";
  EXPECT_TRUE(m.matches(kVerdict));
  m.message_id = "<m2@app.test>";
  EXPECT_FALSE(m.matches(kVerdict));
}

TEST(AuditQuery, FindsWhatARuleDidInATimeRange) {
  AuditQuery q;
  q.rule = "att-exe";
  q.since = "2026-11-01T00:00:00Z";
  q.until = "2026-12-01T00:00:00Z";
  EXPECT_TRUE(q.matches(kVerdict));
  q.until = "2026-11-20T09:00:00Z";
  EXPECT_FALSE(q.matches(kVerdict));
  q.until.clear();
  q.rule = "url-bad-host";
  EXPECT_FALSE(q.matches(kVerdict));
}

TEST(AuditQuery, SenderRecipientAndVerdictFilters) {
  AuditQuery q;
  q.sender = "app@APP.test";
  q.recipient = "B@ext.test";
  q.verdict = "quarantine";
  EXPECT_TRUE(q.matches(kVerdict));
  q.verdict = "reject";
  EXPECT_FALSE(q.matches(kVerdict));
  AuditQuery d;
  d.recipient = "c@ext.test";
  d.verdict = "delivered";
  EXPECT_TRUE(d.matches(kDelivery));
  EXPECT_FALSE(d.matches(kVerdict));
}

TEST(AuditSearch, WalksTheRealLogInOrder) {
  test::TempDir tmp;
  {
    AuditOptions o;
    o.dir = tmp.path() / "audit";
    AuditLog log(o);
    log.append(kVerdict);
    log.append(kDelivery);
    log.append(kVerdict);
  }
  AuditQuery q;
  q.queue_id = "AAAAAAAA11111111";
  std::vector<nlohmann::json> seen;
  searchAuditLog(tmp.path() / "audit", q,
                 [&](const std::string&, const nlohmann::json& j) { seen.push_back(j); });
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0]["prev"], std::string(64, '0'));
  EXPECT_NE(seen[1]["prev"], std::string(64, '0'));
}

}  // namespace
}  // namespace relayguard
