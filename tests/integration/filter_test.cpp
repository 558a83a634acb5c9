// filter_test: the filter pipeline end to end over SMTP against the real binary: each action
// (reject, tempfail, quarantine, tag, accept) as the client and the next hop see it, and rules
// reloaded on SIGHUP (a good directory takes effect, a broken one is refused and the rules in
// force stay).
#include <csignal>
#include <fstream>

#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

constexpr auto kWait = std::chrono::seconds(10);

const char* kPipeline =
    "[[stage]]\ntype = \"attachments\"\n"
    "[[stage]]\ntype = \"urls\"\n"
    "[[stage]]\ntype = \"content\"\n";

const char* kRules =
    "[[rule]]\nid = \"att-exe\"\nstage = \"attachments\"\naction = \"quarantine\"\n"
    "filename = '(?i)\\.exe$'\n"
    "[[rule]]\nid = \"url-blocked\"\nstage = \"urls\"\naction = \"reject\"\n"
    "host_list = \"blocked\"\n"
    "[[rule]]\nid = \"url-short\"\nstage = \"urls\"\naction = \"tag\"\nurl = 'bit\\.ly/'\n"
    "[[rule]]\nid = \"slow-pattern\"\nstage = \"content\"\naction = \"tag\"\n"
    "header = \"X-Payload\"\npattern = '^(\\w+\\s?)*$'\n";

class FilterTest : public IntegrationTest {
 protected:
  void SetUp() override {
    sink_ = &startSink(freeLoopbackPort());
    RelayOptions opts;
    opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    relay_ = &makeRelay(opts);
    writeRule("pipeline.toml", kPipeline);
    writeRule("20-rules.toml", kRules);
    writeRule("lists/blocked.txt", "# blocked\nevil.example.net\n");
    relay_->start();
  }
  void writeRule(const std::string& name, const std::string& text) {
    const auto path = relay_->configFile().parent_path() / "rules" / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  SmtpTransaction send(const std::string& message) {
    return relay_->send("app@example.test", {"user@example.test"}, message);
  }
  std::size_t quarantined() const {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator(relay_->spoolDir() / "quarantine", ec)) {
      n += e.path().extension() == ".json" ? 1 : 0;
    }
    return n;
  }
  Sink* sink_ = nullptr;
  Relay* relay_ = nullptr;
};

TEST_F(FilterTest, CleanMessageIsDelivered) {
  const auto t = send(makeMessage("app@example.test", "user@example.test", "clean", "hello"));
  EXPECT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_EQ(sink_->messages()[0].find("X-Relayguard-Tag"), std::string::npos);
}

TEST_F(FilterTest, RejectAnswers550WithTheRuleAndDeliversNothing) {
  const auto t = send(makeMessage("app@example.test", "user@example.test", "offer",
                                  "go to https://login.evil.example.net/now"));
  EXPECT_EQ(t.final.code, 550);
  EXPECT_EQ(t.final.enhanced(), "5.7.1");
  EXPECT_NE(t.final.text().find("url-blocked"), std::string::npos) << t.final.text();
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1500)));
  EXPECT_EQ(quarantined(), 0U);
}

TEST_F(FilterTest, QuarantineAnswers250AndKeepsTheMessageOutOfDelivery) {
  const auto t = send(makeMessageWithAttachment("installer", "setup.EXE", "TVqQAAMAAAAEAAAA\r\n"));
  EXPECT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_FALSE(t.queueId().empty());
  EXPECT_EQ(quarantined(), 1U);
  const auto dir = relay_->spoolDir() / "quarantine";
  const auto record = nlohmann::json::parse(readFile(dir / (t.queueId() + ".json")));
  EXPECT_EQ(record["verdict"], "quarantine");
  EXPECT_EQ(record["mail_from"], "app@example.test");
  EXPECT_EQ(record["subject"], "installer");
  EXPECT_EQ(record["reasons"], nlohmann::json::array({"att-exe"}));
  EXPECT_NE(readFile(dir / (t.queueId() + ".msg")).find("filename=\"setup.EXE\""),
            std::string::npos);
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1500)));
  EXPECT_TRUE(relay_->queueList().empty());
}

TEST_F(FilterTest, TagAddsAHeaderAndDelivers) {
  const auto t = send(
      makeMessage("app@example.test", "user@example.test", "link", "short: http://bit.ly/abc"));
  EXPECT_EQ(t.final.code, 250);
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_NE(sink_->messages()[0].find("\r\nX-Relayguard-Tag: url-short\r\n"), std::string::npos);
}

TEST_F(FilterTest, StageErrorTempfailsWith451) {
  // A folded header (lines stay under 1000 octets) whose unfolded value makes the rule's
  // pattern backtrack past its match limit.
  const std::string chunk(900, 'a');
  const std::string message =
      "From: app@example.test\r\nTo: user@example.test\r\nX-Payload: " + chunk + "\r\n " + chunk +
      "\r\n " + chunk + " !\r\nSubject: x\r\n\r\nbody\r\n";
  const auto t = send(message);
  EXPECT_EQ(t.final.code, 451);
  EXPECT_EQ(t.final.enhanced(), "4.7.1");
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1500)));
}

TEST_F(FilterTest, SighupLoadsNewRulesAndRefusesBrokenOnes) {
  const auto before =
      send(makeMessage("app@example.test", "user@example.test", "Budget 2027", "numbers attached"));
  EXPECT_EQ(before.final.code, 250);

  writeRule("30-new.toml",
            "[[rule]]\nid = \"no-budget\"\nstage = \"content\"\naction = \"reject\"\n"
            "header = \"Subject\"\npattern = '(?i)budget'\n");
  relay_->process().signal(SIGHUP);
  ASSERT_TRUE(relay_->process().waitForLog("event=rules_reloaded", kWait));
  const auto after =
      send(makeMessage("app@example.test", "user@example.test", "Budget 2027", "numbers attached"));
  EXPECT_EQ(after.final.code, 550);
  EXPECT_NE(after.final.text().find("no-budget"), std::string::npos);

  writeRule("40-broken.toml", "[[rule]]\nid = \"bad\"\nstage = \"content\"\naction = \"nope\"\n");
  relay_->process().signal(SIGHUP);
  ASSERT_TRUE(relay_->process().waitForLog("event=rules_reload_refused", kWait));
  EXPECT_NE(relay_->process().log().find("40-broken.toml:4:"), std::string::npos);
  const auto still =
      send(makeMessage("app@example.test", "user@example.test", "Budget 2027", "numbers attached"));
  EXPECT_EQ(still.final.code, 550) << "the previous rules stay in force";
  EXPECT_TRUE(relay_->running());
}

TEST_F(FilterTest, CheckAndRulesTestSeeTheSameRules) {
  const auto check = relay_->cli({"check"});
  EXPECT_EQ(check.exit_status, 0) << check.out + check.err;
  const auto eml = dir_.write("m.eml", "Subject: hi\nFrom: a@example.test\n\nhttp://bit.ly/zz\n");
  const auto test = relay_->cli({"rules", "test", eml.string(), "--json"});
  ASSERT_EQ(test.exit_status, 0) << test.out + test.err;
  const auto j = nlohmann::json::parse(test.out.substr(test.out.find('{')));
  EXPECT_EQ(j["verdict"], "tag");
  EXPECT_EQ(j["add_headers"], nlohmann::json::array({"X-Relayguard-Tag: url-short"}));
}

}  // namespace
}  // namespace relayguard::test
