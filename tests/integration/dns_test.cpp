// dns_test: DNS end to end against the real binary and a real DNS server on loopback
// (tests/support/test_dns_server.py): delivery by MX record to a sink, a null MX bounced,
// a DNS server that does not answer as a deferral; the spf stage's pass and fail with each
// on_fail action, and temperror (tempfail) when the server does not answer.
#include <fstream>

#include <gtest/gtest.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/test_dns_server.hpp"

namespace relayguard::test {
namespace {

constexpr auto kWait = std::chrono::seconds(10);

nlohmann::json zone() {
  return {{"ttl", 60},
          {"names",
           {{"example.test",
             {{"MX", {{10, "mx.example.test"}}}, {"TXT", {"v=spf1 ip4:192.0.2.10 -all"}}}},
            {"mx.example.test", {{"A", {"127.0.0.1"}}}},
            {"other.test", {{"MX", {{10, "mx.example.test"}}}}},
            {"nomail.test", {{"MX", {{0, "."}}}}},
            {"slow.test", {{"TIMEOUT", true}}}}}};
}

class DnsTest : public IntegrationTest {
 protected:
  void SetUp() override {
    dns_ = std::make_unique<TestDnsServer>(dir_.path(), zone());
    sink_ = &startSink(freeLoopbackPort());
  }

  // A relay with no smart host (so: MX delivery on the sink's port) using the test server.
  Relay& relay(const std::string& pipeline = "") {
    RelayOptions opts;
    opts.delivery.push_back("mx_port = " + std::to_string(sink_->port()));
    opts.extra_config = {"[dns]", "servers = [\"" + dns_->address() + "\"]", "timeout = \"1s\"",
                         "attempts = 1"};
    Relay& r = makeRelay(opts);
    if (!pipeline.empty()) {
      std::ofstream(r.configFile().parent_path() / "rules" / "pipeline.toml") << pipeline;
    }
    r.start();
    return r;
  }

  static std::string spfStage(const std::string& ip, const std::string& on_fail) {
    return "[[stage]]\ntype = \"spf\"\negress_ips = [\"" + ip + "\"]\n" +
           (on_fail.empty() ? "" : "on_fail = \"" + on_fail + "\"\n");
  }

  std::unique_ptr<TestDnsServer> dns_;
  Sink* sink_ = nullptr;
};

TEST_F(DnsTest, DeliversToTheMxHost) {
  Relay& r = relay();
  const auto t = r.send("app@example.test", {"user@other.test"},
                        makeMessage("app@example.test", "user@other.test", "by mx", "hello"));
  ASSERT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_NE(sink_->messages()[0].find("Subject: by mx"), std::string::npos);
  EXPECT_TRUE(r.waitForQueueSize(0, kWait));
}

TEST_F(DnsTest, NullMxBouncesToTheSender) {
  Relay& r = relay();
  const auto t = r.send("app@example.test", {"user@nomail.test"},
                        makeMessage("app@example.test", "user@nomail.test", "nowhere", "hello"));
  ASSERT_EQ(t.final.code, 250) << t.final.text();
  // The DSN goes back to app@example.test, whose MX is the sink.
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  const std::string dsn = sink_->messages()[0];
  EXPECT_NE(dsn.find("5.1.10"), std::string::npos) << dsn;
  EXPECT_NE(dsn.find("user@nomail.test"), std::string::npos);
  EXPECT_TRUE(r.waitForQueueSize(0, kWait));
}

TEST_F(DnsTest, UnansweredDnsDefers) {
  Relay& r = relay();
  const auto t = r.send("app@example.test", {"user@slow.test"},
                        makeMessage("app@example.test", "user@slow.test", "later", "hello"));
  ASSERT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_TRUE(waitUntil(
      [&] {
        const auto q = r.queueList();
        return q.size() == 1 && q[0]["attempts"].get<int>() >= 1;
      },
      kWait));
  const auto q = r.queueList();
  EXPECT_NE(q[0]["last_error"].get<std::string>().find("4.4.3"), std::string::npos) << q.dump();
  EXPECT_TRUE(sink_->messages().empty());
}

TEST_F(DnsTest, SpfPassDeliversUntagged) {
  Relay& r = relay(spfStage("192.0.2.10", "reject"));
  const auto t = r.send("app@example.test", {"user@other.test"},
                        makeMessage("app@example.test", "user@other.test", "pass", "hello"));
  ASSERT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_EQ(sink_->messages()[0].find("X-Relayguard-Tag"), std::string::npos);
}

TEST_F(DnsTest, SpfFailWithEachOnFailAction) {
  struct Case {
    std::string on_fail;
    int code;
    bool delivered;
    bool tagged;
  };
  for (const Case& c : {Case{"reject", 550, false, false}, Case{"quarantine", 250, false, false},
                        Case{"tag", 250, true, true}, Case{"accept", 250, true, false}}) {
    SCOPED_TRACE(c.on_fail);
    const std::size_t before = sink_->messages().size();
    Relay& r = relay(spfStage("198.51.100.7", c.on_fail));
    const auto t = r.send("app@example.test", {"user@other.test"},
                          makeMessage("app@example.test", "user@other.test", c.on_fail, "hi"));
    EXPECT_EQ(t.final.code, c.code) << t.final.text();
    if (c.delivered) {
      ASSERT_TRUE(sink_->waitForMessages(before + 1, kWait));
      const bool tagged =
          sink_->messages().back().find("\r\nX-Relayguard-Tag: spf-fail\r\n") != std::string::npos;
      EXPECT_EQ(tagged, c.tagged);
    } else {
      EXPECT_FALSE(sink_->waitForMessages(before + 1, std::chrono::milliseconds(1000)));
    }
    if (c.on_fail == "reject") {
      EXPECT_NE(t.final.text().find("spf-fail"), std::string::npos) << t.final.text();
    }
    r.terminate(std::chrono::seconds(10));
  }
}

TEST_F(DnsTest, SpfTemperrorTempfailsWhenTheServerDoesNotAnswer) {
  Relay& r = relay(spfStage("192.0.2.10", "tag"));
  const auto t = r.send("app@slow.test", {"user@other.test"},
                        makeMessage("app@slow.test", "user@other.test", "temp", "hello"));
  EXPECT_EQ(t.final.code, 451) << t.final.text();
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1000)));
}

}  // namespace
}  // namespace relayguard::test
