// dkim_stage_test: the dkim stage in a pipeline: which keys sign which From: domain, the
// findings for a missing or doubled From:, signatures checked by dkimpy after a tagging stage and
// on the release path (runOutbound), and the config errors (a bad key is reported at its
// [[stage.key]]).
#include "filters/dkim/dkim_stage.hpp"

#include <algorithm>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/dkim_check.hpp"
#include "tests/unit/filters/run_pipeline.hpp"

namespace relayguard::filters {
namespace {

using signing::DkimAlgorithm;
using ::testing::HasSubstr;

class DkimStageTest : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_.path() / name).parent_path());
    std::ofstream(dir_.path() / name) << text;
  }
  test::TestKey key(const std::string& file, DkimAlgorithm alg, const std::string& domain,
                    const std::string& selector) {
    auto k = test::writeTestKey(dir_.path() / "keys", file, alg, domain, selector);
    dns_[k.record_name] = k.record;
    return k;
  }
  static std::string keyTable(const std::string& domain, const std::string& selector,
                              const std::string& alg, const std::string& file) {
    return "[[stage.key]]\ndomain = \"" + domain + "\"\nselector = \"" + selector +
           "\"\nalgorithm = \"" + alg + "\"\nprivate_key = \"keys/" + file + "\"\n";
  }
  std::string loadError() {
    try {
      Pipeline::load(dir_.path());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string at(int line, int col) {
    return (dir_.path() / "pipeline.toml").string() + ":" + std::to_string(line) + ":" +
           std::to_string(col) + ": ";
  }
  // The message as the sink would store it: the verdict's fields on top of the original.
  static std::string delivered(const Verdict& v, const std::string& message) {
    return "Received: from test ([127.0.0.1])\r\n\tby relay.example.test; x\r\n" + v.headerBlock() +
           message;
  }
  static std::size_t signatures(const Verdict& v) {
    return static_cast<std::size_t>(
        std::count_if(v.add_headers.begin(), v.add_headers.end(),
                      [](const HeaderField& h) { return h.name == "DKIM-Signature"; }));
  }
  test::TempDir dir_;
  std::map<std::string, std::string> dns_;
};

std::string mail(const std::string& from, const std::string& extra = "") {
  return "From: " + from + "\r\nTo: user@example.org\r\nSubject: Hello\r\n" + extra +
         "Date: Mon, 24 Nov 2025 10:00:00 +0000\r\nMessage-ID: <m@x>\r\n\r\nHello.\r\n";
}

TEST_F(DkimStageTest, TwoKeysForOneDomainGiveTwoVerifiedSignatures) {
  key("rsa.pem", DkimAlgorithm::kRsaSha256, "example.test", "r1");
  key("ed.pem", DkimAlgorithm::kEd25519Sha256, "example.test", "e1");
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" +
                             keyTable("example.test", "r1", "rsa-sha256", "rsa.pem") +
                             keyTable("example.test", "e1", "ed25519-sha256", "ed.pem"));
  const auto p = Pipeline::load(dir_.path());
  const std::string m = mail("App <app@example.test>");
  const auto v = test::runPipeline(*p, m);
  EXPECT_EQ(v.action, Action::kAccept);
  ASSERT_EQ(signatures(v), 2U);
  const auto r = test::dkimpyVerify(delivered(v, m), dns_);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pass d=example.test s=r1 a=rsa-sha256"));
  EXPECT_THAT(r.output, HasSubstr("pass d=example.test s=e1 a=ed25519-sha256"));
}

TEST_F(DkimStageTest, MostSpecificDomainWinsAndOtherDomainsAreNotSigned) {
  key("parent.pem", DkimAlgorithm::kEd25519Sha256, "example.test", "p");
  key("child.pem", DkimAlgorithm::kEd25519Sha256, "mail.example.test", "c");
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" +
                             keyTable("example.test", "p", "ed25519-sha256", "parent.pem") +
                             keyTable("Mail.Example.Test.", "c", "ed25519-sha256", "child.pem"));
  const auto p = Pipeline::load(dir_.path());
  const auto sub = test::runPipeline(*p, mail("x@eu.mail.example.test"));
  ASSERT_EQ(signatures(sub), 1U);
  EXPECT_THAT(sub.add_headers[0].value, HasSubstr("d=mail.example.test"));
  const auto parent = test::runPipeline(*p, mail("x@shop.example.test"));
  ASSERT_EQ(signatures(parent), 1U);
  EXPECT_THAT(parent.add_headers[0].value, HasSubstr("d=example.test;"));
  EXPECT_THAT(parent.add_headers[0].value, HasSubstr("s=p;"));
  EXPECT_EQ(test::dkimpyVerify(delivered(parent, mail("x@shop.example.test")), dns_).status, 0);
  for (const auto* other : {"x@example.org", "x@badexample.test", "x@test"}) {
    const auto v = test::runPipeline(*p, mail(other));
    EXPECT_EQ(v.action, Action::kAccept) << other;
    EXPECT_TRUE(v.add_headers.empty()) << other;
    ASSERT_EQ(v.stages.size(), 1U);
    EXPECT_TRUE(v.stages[0].findings.empty()) << other;
  }
}

TEST_F(DkimStageTest, MissingOrDoubledFromIsNotSignedAndGetsAFinding) {
  key("k.pem", DkimAlgorithm::kEd25519Sha256, "example.test", "s1");
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\non_bad_from = \"reject\"\n" +
                             keyTable("example.test", "s1", "ed25519-sha256", "k.pem"));
  const auto p = Pipeline::load(dir_.path());
  const auto none = test::runPipeline(*p, "To: u@example.org\r\nSubject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(none.action, Action::kReject);
  EXPECT_EQ(signatures(none), 0U);
  ASSERT_NE(none.decisive(), nullptr);
  EXPECT_EQ(none.decisive()->rule, "dkim-no-from");
  const auto two = test::runPipeline(*p, mail("a@example.test", "From: b@example.test\r\n"));
  EXPECT_EQ(two.action, Action::kReject);
  EXPECT_EQ(two.decisive()->rule, "dkim-multiple-from");
  EXPECT_EQ(signatures(two), 0U);
  const auto mixed = test::runPipeline(*p, mail("a@example.test, b@evil.test"));
  EXPECT_EQ(mixed.decisive()->rule, "dkim-multiple-from");
  EXPECT_EQ(signatures(mixed), 0U);
}

TEST_F(DkimStageTest, BadFromIsAcceptedUnsignedByDefault) {
  key("k.pem", DkimAlgorithm::kEd25519Sha256, "example.test", "s1");
  write("pipeline.toml",
        "[[stage]]\ntype = \"dkim\"\n" + keyTable("example.test", "s1", "ed25519-sha256", "k.pem"));
  const auto v = test::runPipeline(*Pipeline::load(dir_.path()), "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_TRUE(v.add_headers.empty());
  ASSERT_EQ(v.stages.size(), 1U);
  ASSERT_EQ(v.stages[0].findings.size(), 1U);
  EXPECT_EQ(v.stages[0].findings[0].rule, "dkim-no-from");
}

TEST_F(DkimStageTest, TaggedMessageIsSignedAndReleasePathSignsToo) {
  key("k.pem", DkimAlgorithm::kRsaSha256, "example.test", "s1");
  write("pipeline.toml",
        "[[stage]]\ntype = \"content\"\n[[stage]]\ntype = \"dkim\"\n"
        "canonicalization = \"simple/simple\"\nexpire = \"7d\"\n" +
            keyTable("example.test", "s1", "rsa-sha256", "k.pem"));
  write("40-c.toml",
        "[[rule]]\nid = \"hello\"\nstage = \"content\"\naction = \"tag\"\n"
        "header = \"Subject\"\npattern = '^Hello'\n"
        "[[rule]]\nid = \"hold\"\nstage = \"content\"\naction = \"quarantine\"\n"
        "pattern = 'hold me'\n");
  const auto p = Pipeline::load(dir_.path());
  const std::string m = mail("app@example.test");
  const auto v = test::runPipeline(*p, m);
  EXPECT_EQ(v.action, Action::kTag);
  ASSERT_EQ(v.add_headers.size(), 2U);
  EXPECT_EQ(v.add_headers[0].name, "X-Relayguard-Tag");
  EXPECT_EQ(v.add_headers[1].name, "DKIM-Signature");
  EXPECT_THAT(v.add_headers[1].value, HasSubstr("c=simple/simple"));
  EXPECT_THAT(v.add_headers[1].value, HasSubstr("x="));
  const auto r = test::dkimpyVerify(delivered(v, m), dns_);
  EXPECT_EQ(r.status, 0) << r.output;
  // A quarantined message is not signed; its release (runOutbound) is.
  const std::string held = "From: app@example.test\r\nSubject: x\r\n\r\nplease hold me\r\n";
  const auto q = test::runPipeline(*p, held);
  EXPECT_EQ(q.action, Action::kQuarantine);
  EXPECT_EQ(signatures(q), 0U);
  const auto release = test::runPipeline(*p, held, test::testEnvelope(), true);
  ASSERT_EQ(signatures(release), 1U);
  EXPECT_EQ(test::dkimpyVerify(delivered(release, held), dns_).status, 0);
}

TEST_F(DkimStageTest, KeyProblemsAreReportedAtTheirKeyTable) {
  key("good.pem", DkimAlgorithm::kRsaSha256, "example.test", "s1");
  const std::string head = "[[stage]]\ntype = \"dkim\"\n";
  const std::string good = keyTable("example.test", "s1", "rsa-sha256", "good.pem");
  // The second [[stage.key]] starts on line 8.
  write("pipeline.toml", head + good + keyTable("example.test", "s2", "rsa-sha256", "none.pem"));
  EXPECT_THAT(loadError(), HasSubstr(at(8, 1) + "private key '"));
  EXPECT_THAT(loadError(), HasSubstr("none.pem': no such file"));

  std::filesystem::copy_file(dir_.path() / "keys/good.pem", dir_.path() / "keys/open.pem");
  std::filesystem::permissions(dir_.path() / "keys/open.pem", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  write("pipeline.toml", head + good + keyTable("example.test", "s2", "rsa-sha256", "open.pem"));
  EXPECT_THAT(loadError(), HasSubstr(at(8, 1)));
  EXPECT_THAT(loadError(), HasSubstr("group and others must have no access"));

  write("keys/junk.pem", "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");
  std::filesystem::permissions(dir_.path() / "keys/junk.pem", std::filesystem::perms::owner_read);
  write("pipeline.toml", head + good + keyTable("example.test", "s2", "rsa-sha256", "junk.pem"));
  EXPECT_THAT(loadError(), HasSubstr(at(8, 1)));
  EXPECT_THAT(loadError(), HasSubstr("does not parse"));

  write("pipeline.toml",
        head + good + keyTable("example.test", "s2", "ed25519-sha256", "good.pem"));
  EXPECT_THAT(loadError(), HasSubstr("not an Ed25519 key"));
}

TEST_F(DkimStageTest, ConfigErrors) {
  key("k.pem", DkimAlgorithm::kRsaSha256, "example.test", "s1");
  const std::string good = keyTable("example.test", "s1", "rsa-sha256", "k.pem");
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n");
  EXPECT_THAT(loadError(), HasSubstr("needs at least one [[stage.key]]"));
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\ncanonicalization = \"loose\"\n" + good);
  EXPECT_THAT(loadError(), HasSubstr(at(3, 20) + "canonicalization: 'loose' is not"));
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" + good + good);
  EXPECT_THAT(loadError(), HasSubstr("a second key for selector 's1'"));
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" + good + "l = 100\n");
  EXPECT_THAT(loadError(), HasSubstr("'l'"));
  write("pipeline.toml",
        "[[stage]]\ntype = \"dkim\"\n" + keyTable("exa mple.test", "s1", "rsa-sha256", "k.pem"));
  EXPECT_THAT(loadError(), HasSubstr("is not a domain name"));
  write("pipeline.toml",
        "[[stage]]\ntype = \"dkim\"\n" + keyTable("example.test", "s1", "rsa-sha1", "k.pem"));
  EXPECT_THAT(loadError(), HasSubstr("'rsa-sha1' is not one of"));
  write("pipeline.toml", "[[stage]]\ntype = \"dkim\"\n" + good + "[[stage]]\ntype = \"content\"\n");
  EXPECT_THAT(loadError(), HasSubstr("must come before stage 'dkim'"));
}

}  // namespace
}  // namespace relayguard::filters
