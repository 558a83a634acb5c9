// dkim_test: DKIM signing end to end: keys made with `relayguard dkim keygen`, mail sent over
// SMTP through the real relay to the sink, and every stored message checked by dkimpy (an
// implementation independent of libopendkim) with the TXT records keygen printed. Also: mail of
// other domains leaves unsigned, a tagged message is signed, and `check` reports key problems
// with the file and line of their [[stage.key]].
#include <fstream>
#include <map>
#include <regex>

#include <gmock/gmock.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/dkim_check.hpp"

namespace relayguard::test {
namespace {

using ::testing::HasSubstr;
constexpr auto kWait = std::chrono::seconds(10);

class DkimTest : public IntegrationTest {
 protected:
  void SetUp() override {
    sink_ = &startSink(freeLoopbackPort());
    RelayOptions opts;
    opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    relay_ = &makeRelay(opts);
    rules_ = relay_->configFile().parent_path() / "rules";
    std::filesystem::create_directories(rules_ / "keys");
  }
  // `relayguard dkim keygen`; remembers the TXT record it prints (joined from its strings).
  CommandResult keygen(const std::string& domain, const std::string& selector,
                       const std::string& algorithm, const std::string& file) {
    CommandResult r =
        relay_->cli({"dkim", "keygen", "--domain", domain, "--selector", selector, "--algorithm",
                     algorithm, "--out", (rules_ / "keys" / file).string()});
    const std::string name = selector + "._domainkey." + domain;
    if (r.exit_status == 0 && r.out.rfind(name + ". IN TXT ( ", 0) == 0) {
      std::string record;
      const std::regex part("\"([^\"]*)\"");
      for (std::sregex_iterator it(r.out.begin(), r.out.end(), part), end; it != end; ++it) {
        EXPECT_LE((*it)[1].length(), 255);
        record += (*it)[1].str();
      }
      dns_[name] = record;
    }
    return r;
  }
  void writeRules(const std::string& name, const std::string& text) {
    std::ofstream(rules_ / name) << text;
  }
  static std::string keyTable(const std::string& domain, const std::string& selector,
                              const std::string& algorithm, const std::string& file) {
    return "[[stage.key]]\ndomain = \"" + domain + "\"\nselector = \"" + selector +
           "\"\nalgorithm = \"" + algorithm + "\"\nprivate_key = \"keys/" + file + "\"\n";
  }
  void sendAndCheck(const std::string& label, const std::string& message) {
    const auto t = relay_->send("app@example.test", {"user@example.org"}, message);
    ASSERT_EQ(t.final.code, 250) << label << ": " << t.final.text();
  }
  Sink* sink_ = nullptr;
  Relay* relay_ = nullptr;
  std::filesystem::path rules_;
  std::map<std::string, std::string> dns_;
};

const std::string kHeaders =
    "From: App <app@example.test>\r\nTo: User <user@example.org>\r\n"
    "Date: Mon, 24 Nov 2025 10:00:00 +0000\r\nMessage-ID: <m@example.test>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n";

std::string message(const std::string& subject, const std::string& body) {
  return kHeaders + "Subject: " + subject + "\r\n\r\n" + body;
}

TEST_F(DkimTest, KeygenPrintsTheRecordAndRefusesToOverwrite) {
  const auto rsa = keygen("example.test", "r1", "rsa-sha256", "r1.pem");
  EXPECT_EQ(rsa.exit_status, 0) << rsa.err;
  EXPECT_THAT(rsa.out, HasSubstr("r1._domainkey.example.test. IN TXT ( \"v=DKIM1; k=rsa; p="));
  EXPECT_THAT(rsa.out, HasSubstr("\" \"")) << "a 2048-bit record needs two strings";
  struct stat st {};
  ASSERT_EQ(::stat((rules_ / "keys/r1.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const std::string before = readFile(rules_ / "keys/r1.pem");
  const auto again = keygen("example.test", "r1", "rsa-sha256", "r1.pem");
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_EQ(readFile(rules_ / "keys/r1.pem"), before);
  const auto ed = keygen("example.test", "e1", "ed25519-sha256", "e1.pem");
  EXPECT_EQ(ed.exit_status, 0) << ed.err;
  EXPECT_THAT(ed.out, HasSubstr("IN TXT ( \"v=DKIM1; k=ed25519; p="));
  EXPECT_EQ(dns_["e1._domainkey.example.test"].size(),
            std::string("v=DKIM1; k=ed25519; p=").size() + 44);
  const auto weak = relay_->cli({"dkim", "keygen", "--domain", "example.test", "--selector", "w",
                                 "--bits", "1024", "--out", (rules_ / "keys/w.pem").string()});
  EXPECT_NE(weak.exit_status, 0);
  EXPECT_FALSE(std::filesystem::exists(rules_ / "keys/w.pem"));
}

TEST_F(DkimTest, RelayedMailIsSignedAndVerifiesWithDkimpy) {
  ASSERT_EQ(keygen("example.test", "r1", "rsa-sha256", "r1.pem").exit_status, 0);
  ASSERT_EQ(keygen("example.test", "e1", "ed25519-sha256", "e1.pem").exit_status, 0);
  writeRules("pipeline.toml", "[[stage]]\ntype = \"content\"\n[[stage]]\ntype = \"dkim\"\n" +
                                  keyTable("example.test", "r1", "rsa-sha256", "r1.pem") +
                                  keyTable("example.test", "e1", "ed25519-sha256", "e1.pem"));
  writeRules("40-content.toml",
             "[[rule]]\nid = \"tag-invoice\"\nstage = \"content\"\naction = \"tag\"\n"
             "header = \"Subject\"\npattern = '(?i)invoice'\n");
  const auto check = relay_->cli({"check"});
  ASSERT_EQ(check.exit_status, 0) << check.err;
  relay_->start();

  const std::string long_line(990, 'y');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plain", message("plain", "Hello.\r\n")},
      {"trailing blank lines", message("blank", "Hello.\r\n\r\n\r\n\r\n")},
      {"long lines", message("long", long_line + "\r\n" + long_line + "\r\n")},
      {"8-bit UTF-8", message("Grüße aus Köln ✓", "Grüße, 日本語 🙂\r\n")},
      {"dot lines and spaces", message("dots", ".\r\n..leading\r\n  \t \r\nend  \r\n")},
      {"empty body", message("empty", "")},
      {"tagged by the content stage", message("Your invoice", "Attached.\r\n")},
  };
  for (const auto& [label, m] : cases) {
    sendAndCheck(label, m);
  }
  ASSERT_TRUE(sink_->waitForMessages(cases.size(), kWait));
  const auto stored = sink_->messages();
  std::size_t tagged = 0;
  for (const auto& m : stored) {
    const auto r = dkimpyVerify(m, dns_);
    EXPECT_EQ(r.status, 0) << r.output << "\n" << m;
    EXPECT_THAT(r.output, HasSubstr("pass d=example.test s=r1 a=rsa-sha256"));
    EXPECT_THAT(r.output, HasSubstr("pass d=example.test s=e1 a=ed25519-sha256"));
    tagged += m.find("X-Relayguard-Tag: tag-invoice\r\n") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(tagged, 1U);
  // Tampering after the fact must show: the verifier can fail.
  const std::string& m = stored.front();
  const auto body = m.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(dkimpyVerify(m.substr(0, body + 4) + "tampered\r\n" + m.substr(body + 4), dns_).status,
            0);
}

TEST_F(DkimTest, MailOfOtherDomainsIsNotSigned) {
  ASSERT_EQ(keygen("example.test", "s1", "ed25519-sha256", "s1.pem").exit_status, 0);
  writeRules("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" +
                                  keyTable("example.test", "s1", "ed25519-sha256", "s1.pem"));
  relay_->start();
  sendAndCheck("other",
               "From: someone@example.org\r\nTo: u@example.org\r\nSubject: x\r\n\r\nhi\r\n");
  sendAndCheck("sub", "From: a@news.example.test\r\nTo: u@example.org\r\nSubject: x\r\n\r\nhi\r\n");
  ASSERT_TRUE(sink_->waitForMessages(2, kWait));
  std::size_t signed_count = 0;
  for (const auto& m : sink_->messages()) {
    const bool has = m.find("DKIM-Signature:") != std::string::npos;
    signed_count += has ? 1 : 0;
    if (m.find("From: someone@example.org") != std::string::npos) {
      EXPECT_FALSE(has) << m;
    } else {
      EXPECT_EQ(dkimpyVerify(m, dns_).status, 0) << m;
    }
  }
  EXPECT_EQ(signed_count, 1U);
}

TEST_F(DkimTest, CheckReportsKeyProblemsAtTheirKeyTable) {
  ASSERT_EQ(keygen("example.test", "s1", "rsa-sha256", "s1.pem").exit_status, 0);
  const std::string head = "[[stage]]\ntype = \"dkim\"\n";
  const std::string good = keyTable("example.test", "s1", "rsa-sha256", "s1.pem");
  const std::string pipeline = (rules_ / "pipeline.toml").string();

  writeRules("pipeline.toml", head + good + keyTable("example.test", "s2", "rsa-sha256", "no.pem"));
  auto r = relay_->cli({"check"});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_THAT(r.err, HasSubstr(pipeline + ":8:1: private key '"));
  EXPECT_THAT(r.err, HasSubstr("no.pem': no such file"));

  std::filesystem::copy_file(rules_ / "keys/s1.pem", rules_ / "keys/shared.pem");
  std::filesystem::permissions(rules_ / "keys/shared.pem", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  writeRules("pipeline.toml",
             head + good + keyTable("example.test", "s2", "rsa-sha256", "shared.pem"));
  r = relay_->cli({"check"});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_THAT(r.err, HasSubstr(pipeline + ":8:1: private key '"));
  EXPECT_THAT(r.err, HasSubstr("mode 0604"));

  {
    std::ofstream(rules_ / "keys/bad.pem") << "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                              "-----END PRIVATE KEY-----\n";
  }
  std::filesystem::permissions(
      rules_ / "keys/bad.pem",
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
  writeRules("pipeline.toml",
             head + good + keyTable("example.test", "s2", "rsa-sha256", "bad.pem"));
  r = relay_->cli({"check"});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_THAT(r.err, HasSubstr(pipeline + ":8:1: private key '"));
  EXPECT_THAT(r.err, HasSubstr("does not parse"));

  writeRules("pipeline.toml", head + good);
  r = relay_->cli({"check"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
}

}  // namespace
}  // namespace relayguard::test
