// pickup_file_test: envelopes from X-Sender/X-Receiver (IIS, .NET) or from the message headers,
// the envelope fields and Bcc removed from the message, line ends normalised, and files that
// cannot be delivered refused with a reason.
#include "core/pickup/pickup_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> strs(const std::vector<Address>& as) {
  std::vector<std::string> out;
  for (const auto& a : as) {
    out.push_back(a.str());
  }
  return out;
}

std::string refusal(std::string_view file, std::uint64_t max = 1 << 20) {
  try {
    parsePickupFile(file, max);
  } catch (const PickupError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(PickupFile, XSenderAndXReceiverGiveTheEnvelopeAndAreRemoved) {
  // As .NET's SpecifiedPickupDirectory writes it (CRLF).
  const auto m = parsePickupFile(
      "X-Sender: app@example.test\r\nX-Receiver: one@example.test\r\n"
      "X-Receiver: <two@example.test>\r\nMIME-Version: 1.0\r\nFrom: App <app@example.test>\r\n"
      "To: someone-else@example.test\r\nBcc: kept@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
      1 << 20);
  EXPECT_EQ(m.mail_from.str(), "app@example.test");
  EXPECT_THAT(strs(m.rcpt_to), ElementsAre("one@example.test", "two@example.test"));
  EXPECT_EQ(m.data,
            "MIME-Version: 1.0\r\nFrom: App <app@example.test>\r\n"
            "To: someone-else@example.test\r\nBcc: kept@example.test\r\nSubject: hi\r\n\r\n"
            "body\r\n");
}

TEST(PickupFile, HeadersGiveTheEnvelopeWithoutXFieldsAndBccIsRemoved) {
  const auto m = parsePickupFile(
      "From: \"App\" <app@example.test>\nTo: A <a@example.test>, b@example.test\n"
      "Cc: team: c@example.test, d@example.test;\nBcc: hidden@example.test,\n"
      " a@example.test\nSubject: report\n\nline one\nline two",
      1 << 20);
  EXPECT_EQ(m.mail_from.str(), "app@example.test");
  EXPECT_THAT(strs(m.rcpt_to), ElementsAre("a@example.test", "b@example.test", "c@example.test",
                                           "d@example.test", "hidden@example.test"));
  EXPECT_EQ(m.data,
            "From: \"App\" <app@example.test>\r\nTo: A <a@example.test>, b@example.test\r\n"
            "Cc: team: c@example.test, d@example.test;\r\nSubject: report\r\n\r\n"
            "line one\r\nline two\r\n");
  EXPECT_FALSE(m.body_8bit);
}

TEST(PickupFile, SenderFieldWinsOverFromAndEightBitIsNoticed) {
  const auto m = parsePickupFile(
      "From: a@example.test\r\nSender: s@example.test\r\nTo: t@example.test\r\n\r\nGrüße\r\n",
      1 << 20);
  EXPECT_EQ(m.mail_from.str(), "s@example.test");
  EXPECT_TRUE(m.body_8bit);
}

TEST(PickupFile, UndeliverableFilesAreRefusedWithAReason) {
  EXPECT_THAT(refusal("Subject: no addresses\r\n\r\nx\r\n"), HasSubstr("no sender"));
  EXPECT_THAT(refusal("From: a@example.test\r\nSubject: x\r\n\r\nx\r\n"),
              HasSubstr("no recipients"));
  EXPECT_THAT(refusal("X-Sender: not an address\r\nX-Receiver: b@example.test\r\n\r\nx\r\n"),
              HasSubstr("X-Sender"));
  EXPECT_THAT(refusal("just some text without any header\r\n"), HasSubstr("no header fields"));
  EXPECT_THAT(
      refusal("From: a@example.test\r\nTo: b@example.test\r\n\r\n" + std::string(2000, 'x'), 1000),
      HasSubstr("larger than max_message_size"));
}

TEST(PickupFile, OversizedFileIsRefusedBeforeItIsRead) {
  test::TempDir dir;
  const auto small = dir.write("ok.eml", "From: a@example.test\r\nTo: b@example.test\r\n\r\nx\r\n");
  EXPECT_EQ(loadPickupFile(small, 1000).rcpt_to.size(), 1U);
  // A sparse 16 GiB file: reading it into memory would not end well, so only its size may be
  // looked at.
  const auto big = dir.write("big.eml", "From: a@example.test\r\nTo: b@example.test\r\n\r\n");
  std::filesystem::resize_file(big, 16ULL << 30);
  try {
    loadPickupFile(big, 1000);
    FAIL() << "accepted";
  } catch (const PickupError& e) {
    EXPECT_THAT(e.what(), HasSubstr("larger than max_message_size"));
  }
}

}  // namespace
}  // namespace relayguard
