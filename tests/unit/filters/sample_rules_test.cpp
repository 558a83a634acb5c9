// sample_rules_test: the shipped samples/rules directory against the .eml fixtures, one
// behaviour per message: what a security team adopting the samples gets (the antivirus stage
// with the test signature database in samples/clamav, and DKIM signing). The samples are copied
// to a scratch folder with a freshly generated signing key, as scripts/demo.sh does: the
// repository holds no private key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/dkim_check.hpp"
#include "tests/unit/filters/run_pipeline.hpp"

namespace relayguard::filters {
namespace {

using test::fixture;
using test::rulesWith;
using ::testing::Contains;
using ::testing::ElementsAre;

class SampleRules : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>();
    const std::filesystem::path samples = std::string(RELAYGUARD_SOURCE_DIR) + "/samples";
    for (const char* sub : {"rules", "clamav"}) {
      std::filesystem::copy(samples / sub, dir_->path() / sub,
                            std::filesystem::copy_options::recursive);
    }
    std::filesystem::remove_all(dir_->path() / "rules/keys");  // a demo run's key, if any
    const auto key = test::writeTestKey(dir_->path() / "rules/keys", "example.test.s1.pem",
                                        signing::DkimAlgorithm::kRsaSha256, "example.test", "s1");
    dns_ = {{key.record_name, key.record}};
    pipeline_ = Pipeline::load(dir_->path() / "rules");
  }
  static void TearDownTestSuite() {
    pipeline_.reset();
    dir_.reset();
  }
  Verdict run(const std::string& name) { return test::runPipeline(*pipeline_, fixture(name)); }
  static std::shared_ptr<const Pipeline> pipeline_;
  static std::unique_ptr<test::TempDir> dir_;
  static std::map<std::string, std::string> dns_;
};
std::shared_ptr<const Pipeline> SampleRules::pipeline_;
std::unique_ptr<test::TempDir> SampleRules::dir_;
std::map<std::string, std::string> SampleRules::dns_;

TEST_F(SampleRules, LoadsAllStagesWithoutWarnings) {
  EXPECT_THAT(pipeline_->stageNames(),
              ElementsAre("antivirus", "attachments", "urls", "content", "dkim"));
  EXPECT_TRUE(pipeline_->warnings().empty());
  EXPECT_GE(pipeline_->rules().rules().size(), 10U);
}

TEST_F(SampleRules, CleanMessageIsAcceptedAndSigned) {
  const auto v = run("clean.eml");
  EXPECT_EQ(v.action, Action::kAccept);
  ASSERT_EQ(v.add_headers.size(), 1U);
  EXPECT_EQ(v.add_headers[0].name, "DKIM-Signature");
  const auto check = test::dkimpyVerify(v.headerBlock() + fixture("clean.eml"), dns_);
  EXPECT_EQ(check.status, 0) << check.output;
  ASSERT_EQ(v.stages.size(), 5U);
  for (const auto& s : v.stages) {
    EXPECT_TRUE(s.findings.empty()) << s.stage;
  }
}

TEST_F(SampleRules, ExecutableAttachmentIsQuarantined) {
  const auto v = run("exe_attachment.eml");
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(rulesWith(v, Action::kQuarantine), Contains("att-executable"));
}

TEST_F(SampleRules, EncodedDoubleExtensionIsRejected) {
  const auto v = run("double_extension_rfc2047.eml");
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_THAT(rulesWith(v, Action::kReject), ElementsAre("att-double-extension"));
  EXPECT_EQ(v.stages.size(), 2U) << "a reject ends the run (antivirus ran first)";
}

TEST_F(SampleRules, Rfc2231MacroWorkbookIsQuarantined) {
  const auto v = run("macro_rfc2231.eml");
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(rulesWith(v, Action::kQuarantine), Contains("att-macro-office"));
}

TEST_F(SampleRules, ExecutableDisguisedAsPdfIsQuarantined) {
  const auto v = run("disguised_pdf.eml");
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(rulesWith(v, Action::kQuarantine), ElementsAre("att-disguised-executable"));
}

TEST_F(SampleRules, ScriptInsideZipIsQuarantined) {
  const auto v = run("zip_with_script.eml");
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(rulesWith(v, Action::kQuarantine), Contains("att-executable"));
}

TEST_F(SampleRules, ShortenerSplitByQuotedPrintableIsTagged) {
  const auto v = run("url_shortener_qp.eml");
  EXPECT_EQ(v.action, Action::kTag);
  EXPECT_THAT(rulesWith(v, Action::kTag), ElementsAre("url-shortener"));
  ASSERT_EQ(v.add_headers.size(), 2U);
  EXPECT_EQ(v.headerBlock().substr(0, 33), "X-Relayguard-Tag: url-shortener\r\n");
  EXPECT_EQ(v.add_headers[1].name, "DKIM-Signature");
}

TEST_F(SampleRules, EntityObfuscatedLinkToBlockedHostIsRejected) {
  const auto v = run("url_bad_host_entities.eml");
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_THAT(rulesWith(v, Action::kReject), ElementsAre("url-bad-host"));
}

TEST_F(SampleRules, EncodedPhishingSubjectIsQuarantined) {
  const auto v = run("phish_subject_encoded.eml");
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(rulesWith(v, Action::kQuarantine), ElementsAre("content-credential-phish"));
}

TEST_F(SampleRules, Base64BodyAskingForNewBankDetailsIsTagged) {
  const auto v = run("payment_change.eml");
  EXPECT_EQ(v.action, Action::kTag);
  EXPECT_THAT(rulesWith(v, Action::kTag), ElementsAre("content-payment-change"));
}

TEST_F(SampleRules, EicarIsQuarantinedWithTheVirusName) {
  // The EICAR test string, assembled here so that the repository never holds it.
  const std::string eicar =
      std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
  const auto v = test::runPipeline(
      *pipeline_,
      "From: a@example.test\r\nTo: b@example.test\r\nSubject: test\r\n\r\n" + eicar + "\r\n");
  EXPECT_EQ(v.action, Action::kQuarantine);
  ASSERT_FALSE(v.stages.empty());
  EXPECT_EQ(v.stages[0].stage, "antivirus");
  ASSERT_EQ(v.stages[0].findings.size(), 1U);
  EXPECT_EQ(v.stages[0].findings[0].detail, "Relayguard.Test.EICAR.UNOFFICIAL");
  EXPECT_EQ(v.stages[0].findings[0].action, Action::kQuarantine);
}

}  // namespace
}  // namespace relayguard::filters
