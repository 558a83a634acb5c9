// quarantine_test: quarantine review against the real binary: messages quarantined over SMTP are
// listed (with filters), shown (envelope, verdict, attachments, URLs), released to the sink,
// deleted and purged, with the relay running and without it; every release and delete is an
// audit line naming the operating-system user; two operators releasing the same message at
// once deliver it exactly once.
#include <fstream>
#include <future>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/dkim_check.hpp"

namespace relayguard::test {
namespace {

constexpr auto kWait = std::chrono::seconds(10);

std::string currentUser() {
  const passwd* pw = ::getpwuid(::getuid());
  return pw != nullptr ? pw->pw_name : "uid " + std::to_string(::getuid());
}

// A message the content rule "hold" quarantines, with an attachment and a link.
std::string heldMessage(const std::string& subject) {
  return "From: app@example.test\r\nTo: user@example.test\r\nSubject: hold " + subject +
         "\r\nMessage-ID: <" + subject +
         "@example.test>\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
         "--xx\r\nContent-Type: text/plain\r\n\r\nreport at https://reports.example.test/q1\r\n"
         "--xx\r\nContent-Type: application/pdf\r\n"
         "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--xx--\r\n";
}

class QuarantineTest : public IntegrationTest {
 protected:
  void SetUp() override {
    sink_ = &startSink(freeLoopbackPort());
    RelayOptions opts;
    opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    relay_ = &makeRelay(opts);
    const auto rules = relay_->configFile().parent_path() / "rules";
    // Mail of example.test leaves signed: a release must be signed too.
    key_ = writeTestKey(rules / "keys", "s1.pem", signing::DkimAlgorithm::kRsaSha256,
                        "example.test", "s1");
    std::ofstream(rules / "pipeline.toml")
        << "[[stage]]\ntype = \"content\"\n"
           "[[stage]]\ntype = \"dkim\"\n[[stage.key]]\ndomain = \"example.test\"\n"
           "selector = \"s1\"\nalgorithm = \"rsa-sha256\"\nprivate_key = \"keys/s1.pem\"\n";
    std::ofstream(rules / "10-content.toml")
        << "[[rule]]\nid = \"hold\"\nstage = \"content\"\naction = \"quarantine\"\n"
           "header = \"Subject\"\npattern = '^hold'\n";
    relay_->start();
  }

  // Sends a held message from `from`; returns its quarantine id.
  std::string quarantine(const std::string& subject, const std::string& from = "app@example.test") {
    const auto t = relay_->send(from, {"user@example.test"}, heldMessage(subject));
    EXPECT_EQ(t.final.code, 250) << t.final.text();
    return t.queueId();
  }

  nlohmann::json list(std::vector<std::string> filters = {}) {
    std::vector<std::string> args = {"quarantine", "list", "--json"};
    args.insert(args.end(), filters.begin(), filters.end());
    const auto r = relay_->cli(args);
    EXPECT_EQ(r.exit_status, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  std::vector<nlohmann::json> auditEvents(const std::string& event) {
    std::vector<nlohmann::json> out;
    for (auto& j : auditLines(relay_->spoolDir() / "audit")) {
      if (j.value("event", "") == event) {
        out.push_back(std::move(j));
      }
    }
    return out;
  }

  Sink* sink_ = nullptr;
  Relay* relay_ = nullptr;
  TestKey key_;
};

TEST_F(QuarantineTest, ListFiltersAndShowDescribeTheMessage) {
  const auto first = quarantine("one");
  const auto second = quarantine("two", "billing@example.test");

  const auto all = list();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0]["id"], first);
  EXPECT_EQ(all[0]["mail_from"], "app@example.test");
  EXPECT_EQ(all[0]["rcpt_to"], nlohmann::json::array({"user@example.test"}));
  EXPECT_EQ(all[0]["subject"], "hold one");
  EXPECT_EQ(all[0]["verdict"], "quarantine");
  EXPECT_EQ(all[0]["reasons"], nlohmann::json::array({"hold"}));
  EXPECT_FALSE(all[0]["time"].get<std::string>().empty());

  const auto by_sender = list({"--sender", "billing@example.test"});
  ASSERT_EQ(by_sender.size(), 1U);
  EXPECT_EQ(by_sender[0]["id"], second);
  EXPECT_EQ(list({"--rule", "hold"}).size(), 2U);
  EXPECT_EQ(list({"--rule", "other"}).size(), 0U);
  EXPECT_EQ(list({"--recipient", "nobody@example.test"}).size(), 0U);
  EXPECT_EQ(list({"--since", "1h"}).size(), 2U);

  const auto show = relay_->cli({"quarantine", "show", first, "--json"});
  ASSERT_EQ(show.exit_status, 0) << show.err;
  const auto d = nlohmann::json::parse(show.out);
  EXPECT_EQ(d["client_ip"], "127.0.0.1");
  ASSERT_EQ(d["attachments"].size(), 1U);
  EXPECT_EQ(d["attachments"][0]["filenames"], nlohmann::json::array({"report.pdf"}));
  EXPECT_EQ(d["attachments"][0]["content_type"], "application/pdf");
  EXPECT_EQ(d["attachments"][0]["detected_type"], "application/pdf");
  EXPECT_EQ(d["urls"], nlohmann::json::array({"https://reports.example.test/q1"}));
  EXPECT_EQ(d["stages"][0]["rule"], "hold");
  const auto text = relay_->cli({"quarantine", "show", first});
  EXPECT_NE(text.out.find("report.pdf"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Subject: hold one"), std::string::npos) << text.out;

  EXPECT_EQ(relay_->cli({"quarantine", "show", "nosuchid"}).exit_status, 1);
  EXPECT_EQ(relay_->cli({"quarantine", "list", "--since", "yesterday"}).exit_status, 2);
}

TEST_F(QuarantineTest, ReleaseWhileServingDeliversAndIsAudited) {
  const auto id = quarantine("release-me");
  const auto r = relay_->cli({"quarantine", "release", id, "--reason", "false positive"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  const std::string delivered = sink_->messages()[0];
  EXPECT_NE(delivered.find("Subject: hold release-me"), std::string::npos);
  EXPECT_TRUE(list().empty());
  // Quarantined mail was not signed at acceptance; the release is, as any outbound message.
  EXPECT_EQ(delivered.find("DKIM-Signature:"), delivered.rfind("DKIM-Signature:"));
  const auto verified = dkimpyVerify(delivered, {{key_.record_name, key_.record}});
  EXPECT_EQ(verified.status, 0) << verified.output << delivered;

  const auto releases = auditEvents("release");
  ASSERT_EQ(releases.size(), 1U);
  EXPECT_EQ(releases[0]["queue_id"], id);
  EXPECT_EQ(releases[0]["operator"], currentUser());
  EXPECT_EQ(releases[0]["reason"], "false positive");
  EXPECT_EQ(releases[0]["message_id"], "<release-me@example.test>");
  EXPECT_EQ(releases[0]["rcpt_to"], nlohmann::json::array({"user@example.test"}));
  ASSERT_TRUE(waitUntil([&] { return !auditEvents("delivery").empty(); }, kWait));
  EXPECT_EQ(auditEvents("delivery")[0]["queue_id"], id);

  const auto again = relay_->cli({"quarantine", "release", id});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("not found"), std::string::npos) << again.err;
  EXPECT_EQ(relay_->cli({"audit", "verify"}).exit_status, 0);
}

TEST_F(QuarantineTest, DeleteAndPurgeAreAuditedWithTheOperator) {
  const auto doomed = quarantine("delete-me");
  const auto old1 = quarantine("old-one");
  const auto old2 = quarantine("old-two");
  const auto del = relay_->cli({"quarantine", "delete", doomed, "--reason", "phishing"});
  ASSERT_EQ(del.exit_status, 0) << del.err;
  EXPECT_EQ(relay_->cli({"quarantine", "delete", doomed}).exit_status, 1);
  ASSERT_EQ(list().size(), 2U);

  // Nothing is older than a day: purge keeps everything.
  const auto keep = relay_->cli({"quarantine", "purge", "--older-than", "1d"});
  ASSERT_EQ(keep.exit_status, 0) << keep.err;
  EXPECT_NE(keep.out.find("purged 0 message(s)"), std::string::npos) << keep.out;
  EXPECT_EQ(list().size(), 2U);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto purge = relay_->cli({"quarantine", "purge", "--older-than", "1s"});
  ASSERT_EQ(purge.exit_status, 0) << purge.err;
  EXPECT_NE(purge.out.find("purged 2 message(s)"), std::string::npos) << purge.out;
  EXPECT_TRUE(list().empty());

  const auto deletes = auditEvents("delete");
  ASSERT_EQ(deletes.size(), 3U);
  EXPECT_EQ(deletes[0]["queue_id"], doomed);
  EXPECT_EQ(deletes[0]["reason"], "phishing");
  EXPECT_EQ(deletes[0]["verdict"], "quarantine");
  EXPECT_EQ(deletes[1]["queue_id"], old1);
  EXPECT_EQ(deletes[2]["queue_id"], old2);
  EXPECT_NE(deletes[1]["reason"].get<std::string>().find("purge"), std::string::npos);
  for (const auto& d : deletes) {
    EXPECT_EQ(d["operator"], currentUser());
  }
  EXPECT_EQ(sink_->messages().size(), 0U);
  EXPECT_EQ(relay_->cli({"quarantine", "purge"}).exit_status, 2);  // --older-than is required
}

TEST_F(QuarantineTest, ReleaseWithoutARelayQueuesForTheNextStart) {
  const auto id = quarantine("offline");
  ASSERT_EQ(relay_->terminate(kWait), 0);
  const auto r = relay_->cli({"quarantine", "release", id, "--to", "other@example.test"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto queued = relay_->queueList();
  ASSERT_EQ(queued.size(), 1U);
  EXPECT_EQ(queued[0]["rcpt_to"], nlohmann::json::array({"other@example.test"}));
  const auto releases = auditEvents("release");
  ASSERT_EQ(releases.size(), 1U);
  EXPECT_EQ(releases[0]["operator"], currentUser());
  EXPECT_EQ(releases[0]["original_rcpt_to"], nlohmann::json::array({"user@example.test"}));

  relay_->start();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_NE(sink_->messages()[0].find("Subject: hold offline"), std::string::npos);
  EXPECT_TRUE(relay_->waitForQueueSize(0, kWait));
  EXPECT_EQ(relay_->cli({"audit", "verify"}).exit_status, 0);
}

TEST_F(QuarantineTest, ConcurrentReleasesDeliverExactlyOnce) {
  const auto id = quarantine("race");
  std::vector<std::future<CommandResult>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [&] {
      return relay_->cli({"quarantine", "release", id});
    }));
  }
  // The relay keeps serving meanwhile.
  const auto t = relay_->send("app@example.test", {"user@example.test"},
                              makeMessage("app@example.test", "user@example.test", "hi", "x"));
  EXPECT_EQ(t.final.code, 250);
  int released = 0;
  for (auto& f : runs) {
    const auto r = f.get();
    if (r.exit_status == 0) {
      ++released;
    } else {
      EXPECT_EQ(r.exit_status, 1);
      EXPECT_TRUE(r.err.find("not found") != std::string::npos ||
                  r.err.find("try again") != std::string::npos)
          << r.err;
    }
  }
  EXPECT_EQ(released, 1);
  ASSERT_TRUE(sink_->waitForMessages(2, kWait));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto messages = sink_->messages();
  EXPECT_EQ(messages.size(), 2U);
  EXPECT_EQ(std::count_if(messages.begin(), messages.end(),
                          [](const std::string& m) {
                            return m.find("Subject: hold race") != std::string::npos;
                          }),
            1);
  EXPECT_EQ(auditEvents("release").size(), 1U);
}

}  // namespace
}  // namespace relayguard::test
