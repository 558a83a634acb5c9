// header_scan_test: the cheap top-level header walk used on every message (Message-ID, hop
// count) without a MIME parse.
#include "core/message/header_scan.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

TEST(HeaderScan, UnfoldsAndStopsAtTheBody) {
  std::vector<std::pair<std::string, std::string>> seen;
  forEachHeaderField("Subject: a\r\n  folded\r\nX-A:b\r\n\r\nNot: a header\r\n",
                     [&](std::string_view n, std::string_view v) {
                       seen.emplace_back(n, v);
                       return true;
                     });
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0], std::make_pair(std::string("Subject"), std::string("a folded")));
  EXPECT_EQ(seen[1], std::make_pair(std::string("X-A"), std::string("b")));
}

TEST(HeaderScan, FirstValuesAreCaseInsensitive) {
  const auto f = headerFacts("message-id: <1@x>\r\nMessage-ID: <2@x>\r\nsubject: hi\r\n\r\n");
  EXPECT_EQ(f.message_id, "<1@x>");
  EXPECT_EQ(f.subject, "hi");
  EXPECT_EQ(headerFacts("From: a@x\r\n\r\n").message_id, "");
}

TEST(HeaderScan, CountsReceivedFieldsOnlyInTheHeader) {
  EXPECT_EQ(
      headerFacts("Received: a\r\nreceived: b\r\nSubject: x\r\n\r\nReceived: body\r\n").received,
      2U);
  EXPECT_EQ(headerFacts("Subject: x\r\n\r\n").received, 0U);
  EXPECT_EQ(headerFacts("").received, 0U);
  EXPECT_EQ(headerFacts("Received: no final newline").received, 1U);
}

TEST(HeaderScan, MeasuresTheHeaderSection) {
  EXPECT_EQ(headerFacts("Subject: x\r\n\r\nbody\r\n").bytes, 10U);
  EXPECT_EQ(headerFacts("Subject: no body").bytes, 16U);
}

}  // namespace
}  // namespace relayguard
