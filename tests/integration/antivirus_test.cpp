// antivirus_test: the antivirus stage end to end over SMTP against the real binary: a message
// carrying the EICAR test string is quarantined (250, virus name in the quarantine record) or,
// with on_virus = "reject", refused with 550 5.7.1; a clean message is delivered. The EICAR
// string and its signature are assembled at run time so the repository never holds them.
#include <fstream>
#include <random>

#include <openssl/evp.h>

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

// Base64 in 76-character lines (OpenSSL's encoder, which writes one long line).
std::string base64Lines(const std::string& data) {
  std::string one((data.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(one.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  one.resize(static_cast<std::size_t>(n));
  std::string out;
  for (std::size_t at = 0; at < one.size(); at += 76) {
    out += one.substr(at, 76) + "\r\n";
  }
  return out;
}

// Messages past 1 MiB are spilled, their large attachments decoded into files and scanned from
// there: EICAR in the middle of a 4 MiB attachment is quarantined, with the message stored
// whole; the same attachment without it reaches the sink byte for byte; tmp/ is left empty.
TEST_F(AntivirusTest, LargeAttachmentsAreScannedFromFilesAndMessagesKeptWhole) {
  startWith("quarantine");
  std::mt19937 random(5);
  std::string payload(4 << 20, '\0');
  for (char& c : payload) {
    c = static_cast<char>(random() & 0xff);
  }
  const std::string clean =
      makeMessageWithAttachment("clean data", "data.bin", base64Lines(payload));
  payload.replace(payload.size() / 2, eicar().size(), eicar());
  const std::string infected =
      makeMessageWithAttachment("infected data", "data.bin", base64Lines(payload));

  const auto t = relay_->send("app@example.test", {"user@example.test"}, infected);
  EXPECT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_FALSE(t.queueId().empty());
  const auto dir = relay_->spoolDir() / "quarantine";
  const auto record = nlohmann::json::parse(readFile(dir / (t.queueId() + ".json")));
  EXPECT_EQ(record["reasons"], nlohmann::json::array({"Integ.EICAR.UNOFFICIAL"}));
  EXPECT_TRUE(readFile(dir / (t.queueId() + ".msg")).ends_with(infected));

  const auto c = relay_->send("app@example.test", {"user@example.test"}, clean);
  EXPECT_EQ(c.final.code, 250) << c.final.text();
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_TRUE(sink_->messages()[0].ends_with(clean));
  EXPECT_TRUE(std::filesystem::is_empty(relay_->spoolDir() / "tmp"));
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
