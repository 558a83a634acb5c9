// antivirus_test: the antivirus stage end to end over SMTP against the real binary: a message
// carrying the EICAR test string is quarantined (250, virus name in the quarantine record) or,
// with on_virus = "reject", refused with 550 5.7.1; a clean message is delivered. The EICAR
// string and its signature are assembled at run time so the repository never holds them.
#include <fstream>

#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

constexpr auto kWait = std::chrono::seconds(10);

std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class AntivirusTest : public IntegrationTest {
 protected:
  void startWith(const std::string& on_virus) {
    sink_ = &startSink(freeLoopbackPort());
    RelayOptions opts;
    opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    relay_ = &makeRelay(opts);
    const auto rules = relay_->configFile().parent_path() / "rules";
    std::filesystem::create_directories(rules / "clamav");
    std::ofstream(rules / "clamav" / "test.ndb") << "Integ.EICAR:0:*:" << hex(eicar()) << "\n";
    std::ofstream(rules / "pipeline.toml")
        << "[[stage]]\ntype = \"antivirus\"\ndatabase = \"clamav\"\non_virus = \"" << on_virus
        << "\"\non_error = \"tempfail\"\n";
    relay_->start();
  }
  SmtpTransaction send(const std::string& subject, const std::string& body) {
    return relay_->send("app@example.test", {"user@example.test"},
                        makeMessage("app@example.test", "user@example.test", subject, body));
  }
  Sink* sink_ = nullptr;
  Relay* relay_ = nullptr;
};

TEST_F(AntivirusTest, VirusIsQuarantinedWithItsNameAndCleanMailIsDelivered) {
  startWith("quarantine");
  const auto t = send("test file", "attached: " + eicar());
  EXPECT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_FALSE(t.queueId().empty());
  const auto dir = relay_->spoolDir() / "quarantine";
  const auto record = nlohmann::json::parse(readFile(dir / (t.queueId() + ".json")));
  EXPECT_EQ(record["verdict"], "quarantine");
  EXPECT_EQ(record["reasons"], nlohmann::json::array({"Integ.EICAR.UNOFFICIAL"}));
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1500)));

  const auto clean = send("hello", "nothing to see here");
  EXPECT_EQ(clean.final.code, 250) << clean.final.text();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_NE(sink_->messages()[0].find("nothing to see here"), std::string::npos);
}

TEST_F(AntivirusTest, OnVirusRejectAnswers550) {
  startWith("reject");
  const auto t = send("test file", "attached: " + eicar());
  EXPECT_EQ(t.final.code, 550) << t.final.text();
  EXPECT_EQ(t.final.enhanced(), "5.7.1");
  EXPECT_FALSE(sink_->waitForMessages(1, std::chrono::milliseconds(1500)));
}

TEST_F(AntivirusTest, CheckRefusesAnEmptyDatabase) {
  startWith("quarantine");
  std::filesystem::remove(relay_->configFile().parent_path() / "rules" / "clamav" / "test.ndb");
  const auto check = relay_->cli({"check"});
  EXPECT_EQ(check.exit_status, 1);
  EXPECT_NE(check.err.find("pipeline.toml:3:12: database: no signatures"), std::string::npos)
      << check.err;
}

}  // namespace
}  // namespace relayguard::test
