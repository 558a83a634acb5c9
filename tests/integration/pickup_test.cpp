// pickup_test: the IIS-style pickup folder against the real binary: .eml files dropped by an
// application are filtered, queued and delivered, and removed only then; files that cannot be
// delivered go to badmail with a reason; a relay killed (-9) while taking files loses none.
#include <fstream>
#include <set>

#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

constexpr auto kWait = std::chrono::seconds(15);

class PickupTest : public IntegrationTest {
 protected:
  void SetUp() override {
    sink_ = &startSink(freeLoopbackPort());
    RelayOptions opts;
    opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    pickup_ = dir_.path() / "mailroot" / "pickup";
    badmail_ = dir_.path() / "mailroot" / "badmail";
    opts.extra_config = {"[pickup]", "directory = \"" + pickup_.string() + "\"",
                         "interval = \"1s\""};
    relay_ = &makeRelay(opts);
    const auto rules = relay_->configFile().parent_path() / "rules";
    std::ofstream(rules / "pipeline.toml") << "[[stage]]\ntype = \"content\"\n";
    std::ofstream(rules / "10-content.toml")
        << "[[rule]]\nid = \"no-secrets\"\nstage = \"content\"\naction = \"reject\"\n"
           "header = \"Subject\"\npattern = 'secret'\n";
    relay_->start();
  }

  // Writes a file the way an application does (not atomically).
  void drop(const std::string& name, const std::string& text) {
    std::ofstream(pickup_ / name, std::ios::binary) << text;
  }

  std::size_t filesIn(const std::filesystem::path& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  }

  Sink* sink_ = nullptr;
  Relay* relay_ = nullptr;
  std::filesystem::path pickup_;
  std::filesystem::path badmail_;
};

TEST_F(PickupTest, FilesAreFilteredQueuedDeliveredAndThenRemoved) {
  drop("dotnet.eml",
       "X-Sender: app@example.test\r\nX-Receiver: ops@example.test\r\n"
       "From: app@example.test\r\nTo: list@example.test\r\nSubject: nightly report\r\n\r\nok\r\n");
  drop("unix.EML",
       "From: cron@example.test\nTo: admin@example.test\nBcc: audit@example.test\n"
       "Subject: disk usage\n\n92%\n");
  drop("notes.txt", "not for the relay");
  ASSERT_TRUE(sink_->waitForMessages(2, kWait));
  ASSERT_TRUE(waitUntil([&] { return filesIn(pickup_) == 1; }, kWait));
  EXPECT_TRUE(std::filesystem::exists(pickup_ / "notes.txt"));

  bool report = false;
  bool disk = false;
  for (const auto& m : sink_->messages()) {
    EXPECT_EQ(m.find("X-Sender:"), std::string::npos);
    EXPECT_EQ(m.find("Bcc:"), std::string::npos);
    EXPECT_NE(m.find("(relayguard pickup)"), std::string::npos) << m;
    report = report || m.find("Subject: nightly report") != std::string::npos;
    disk = disk || m.find("Subject: disk usage\r\n\r\n92%\r\n") != std::string::npos;
  }
  EXPECT_TRUE(report);
  EXPECT_TRUE(disk);
}

TEST_F(PickupTest, RefusedFilesGoToBadmailWithTheReason) {
  drop("no-rcpt.eml", "From: app@example.test\r\nSubject: hello\r\n\r\nx\r\n");
  drop("secret.eml",
       "From: app@example.test\r\nTo: user@example.test\r\nSubject: top secret\r\n\r\nx\r\n");
  ASSERT_TRUE(waitUntil([&] { return filesIn(badmail_) == 4; }, kWait));
  EXPECT_EQ(filesIn(pickup_), 0U);
  EXPECT_NE(readFile(badmail_ / "no-rcpt.eml.reason").find("no recipients"), std::string::npos);
  const auto reason = readFile(badmail_ / "secret.eml.reason");
  EXPECT_NE(reason.find("550 5.7.1"), std::string::npos) << reason;
  EXPECT_NE(reason.find("no-secrets"), std::string::npos) << reason;
  EXPECT_NE(readFile(badmail_ / "secret.eml").find("Subject: top secret"), std::string::npos);
  EXPECT_EQ(sink_->messages().size(), 0U);
}

TEST_F(PickupTest, AFileThatCannotBeHandledDoesNotStopThePickup) {
  // The badmail folder is gone (a file stands in its way): refusing a file fails.
  std::filesystem::remove_all(badmail_);
  std::ofstream(badmail_) << "in the way";
  drop("no-rcpt.eml", "From: app@example.test\r\nSubject: hello\r\n\r\nx\r\n");
  ASSERT_TRUE(relay_->process().waitForLog("event=pickup_left file=no-rcpt.eml", kWait));
  drop("good.eml",
       "From: app@example.test\r\nTo: user@example.test\r\nSubject: still on\r\n"
       "\r\nx\r\n");
  ASSERT_TRUE(sink_->waitForMessages(1, kWait));
  EXPECT_NE(sink_->messages()[0].find("Subject: still on"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(pickup_ / "no-rcpt.eml"));
}

TEST_F(PickupTest, KillNineWhileTakingFilesLosesNothing) {
  constexpr int kFiles = 20;
  for (int i = 0; i < kFiles; ++i) {
    drop("m" + std::to_string(i) + ".eml",
         "From: app@example.test\r\nTo: user@example.test\r\n"
         "Subject: pickup " +
             std::to_string(i) + "\r\n\r\nbody\r\n");
  }
  ASSERT_TRUE(relay_->process().waitForLog("event=pickup_taken file=m", kWait));
  relay_->kill9();
  relay_->start();
  ASSERT_TRUE(waitUntil([&] { return filesIn(pickup_) == 0; }, kWait));
  std::set<std::string> subjects;
  ASSERT_TRUE(waitUntil(
      [&] {
        for (const auto& m : sink_->messages()) {
          const auto at = m.find("Subject: pickup ");
          if (at != std::string::npos) {
            subjects.insert(m.substr(at, m.find("\r\n", at) - at));
          }
        }
        return subjects.size() == kFiles;
      },
      kWait));
  EXPECT_EQ(subjects.size(), static_cast<std::size_t>(kFiles));
}

}  // namespace
}  // namespace relayguard::test
