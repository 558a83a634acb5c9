// data_reader_test: the DATA-phase state machine: end marker, dot-unstuffing, pipelining,
// SMTP-smuggling variants, NUL bytes and the line and size limits.
#include "core/smtp/data_reader.hpp"

#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace relayguard::smtp {
namespace {

constexpr std::uint64_t kMaxSize = 1024 * 1024;
constexpr std::size_t kMaxLine = 1000;

// Feeds `bytes` in one call and returns how many were consumed.
std::size_t feedAll(DataReader& reader, std::string_view bytes) {
  return reader.feed(bytes);
}

// Feeds `bytes` one octet at a time (stopping when the reader stops consuming).
std::size_t feedBytewise(DataReader& reader, std::string_view bytes) {
  std::size_t consumed = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto n = reader.feed(bytes.substr(i, 1));
    consumed += n;
    if (n == 0) {
      break;
    }
  }
  return consumed;
}

TEST(DataReader, ReadsNormalMessage) {
  const std::string input = "Subject: hi\r\n\r\nHello\r\nworld\r\n.\r\n";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, input), input.size());
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, "Subject: hi\r\n\r\nHello\r\nworld\r\n");
  EXPECT_EQ(reader.received(), input.size());
}

TEST(DataReader, NotDoneWithoutEndMarker) {
  DataReader reader(kMaxSize, kMaxLine);
  const std::string input = "Subject: hi\r\n\r\nbody\r\n";
  EXPECT_EQ(feedAll(reader, input), input.size());
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, input);
}

TEST(DataReader, UnstuffsLeadingDots) {
  const std::string input = "..first\r\na\r\n..b\r\n...\r\n..\r\nc.d\r\n.\r\n";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, input), input.size());
  ASSERT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, ".first\r\na\r\n.b\r\n..\r\n.\r\nc.d\r\n");
}

TEST(DataReader, EmptyMessage) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, ".\r\n"), 3U);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, "");
  EXPECT_EQ(reader.received(), 3U);
}

TEST(DataReader, EmptyLinesThenEnd) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, "\r\n\r\n.\r\n"), 7U);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.message().data, "\r\n\r\n");
}

TEST(DataReader, EndMarkerSplitAcrossFeeds) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(reader.feed("body\r"), 5U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed("\n"), 1U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed("."), 1U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed("\r"), 1U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed(""), 0U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed("\n"), 1U);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, "body\r\n");
}

TEST(DataReader, ByteByByteGivesSameResult) {
  const std::string input = "From: a@b\r\n\r\n..dot\r\nline two\r\n\r\n.\r\n";
  DataReader whole(kMaxSize, kMaxLine);
  ASSERT_EQ(feedAll(whole, input), input.size());
  DataReader bytewise(kMaxSize, kMaxLine);
  EXPECT_EQ(feedBytewise(bytewise, input), input.size());
  EXPECT_TRUE(bytewise.done());
  EXPECT_EQ(bytewise.problems(), DataReader::kNone);
  EXPECT_EQ(bytewise.message().data, whole.message().data);
  EXPECT_EQ(bytewise.message().data, "From: a@b\r\n\r\n.dot\r\nline two\r\n\r\n");
}

// Runs of ordinary lines are taken whole; a line in the middle of such a run that needs the
// byte-by-byte states (a NUL, a bare CR or LF, a dot, a line too long) must come out exactly as
// when the bytes arrive one at a time.
TEST(DataReader, LineRunsGiveTheSameResultAsBytewise) {
  const std::string ordinary =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\r\n";
  const std::vector<std::pair<std::string, std::uint32_t>> specials = {
      {"plain\r\n", DataReader::kNone},
      {std::string("with \0 NUL\r\n", 12), DataReader::kNul},
      {"bare \r CR\r\n", DataReader::kBareCr},
      {"bare \n LF\r\n", DataReader::kBareLf},
      {"..stuffed\r\n", DataReader::kNone},
      {"\r\n", DataReader::kNone},
      {std::string(998, 'x') + "\r\n", DataReader::kNone},
      {std::string(999, 'x') + "\r\n", DataReader::kLineTooLong},
      {"ends in CR\r\r\n", DataReader::kBareCr},
  };
  for (const auto& [special, problem] : specials) {
    SCOPED_TRACE(::testing::PrintToString(special.substr(0, 20)));
    std::string input;
    for (int i = 0; i < 40; ++i) {
      input += i == 20 ? special : ordinary;
    }
    input += ".\r\n";
    DataReader whole(kMaxSize, kMaxLine);
    ASSERT_EQ(feedAll(whole, input), input.size());
    DataReader bytewise(kMaxSize, kMaxLine);
    ASSERT_EQ(feedBytewise(bytewise, input), input.size());
    EXPECT_TRUE(whole.done());
    EXPECT_EQ(whole.problems(), problem);
    EXPECT_EQ(bytewise.problems(), problem);
    EXPECT_EQ(whole.message().data, bytewise.message().data);
    EXPECT_EQ(whole.received(), input.size());
    // Split in the middle of the special line too.
    const std::size_t cut = 20 * ordinary.size() + special.size() / 2;
    DataReader split(kMaxSize, kMaxLine);
    const std::size_t first = split.feed(std::string_view(input).substr(0, cut));
    EXPECT_EQ(first + split.feed(std::string_view(input).substr(first)), input.size());
    EXPECT_EQ(split.problems(), problem);
    EXPECT_EQ(split.message().data, whole.message().data);
  }
}

TEST(DataReader, EverySplitPointGivesSameResult) {
  const std::string input = "a\r\n..b\r\nc\r\n.\r\nNEXT";
  const std::size_t end = input.size() - 4;
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    DataReader reader(kMaxSize, kMaxLine);
    std::size_t consumed = reader.feed(std::string_view(input).substr(0, cut));
    consumed += reader.feed(std::string_view(input).substr(consumed));
    EXPECT_EQ(consumed, end) << "cut at " << cut;
    EXPECT_TRUE(reader.done()) << "cut at " << cut;
    EXPECT_EQ(reader.message().data, "a\r\n.b\r\nc\r\n") << "cut at " << cut;
  }
}

TEST(DataReader, LeavesPipelinedBytesUnconsumed) {
  const std::string message = "Subject: x\r\n\r\nbody\r\n.\r\n";
  const std::string input = message + "MAIL FROM:<next@example.com>\r\nQUIT\r\n";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, input), message.size());
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.message().data, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(reader.received(), message.size());
  // Once done, nothing more is taken.
  EXPECT_EQ(reader.feed("QUIT\r\n"), 0U);
  EXPECT_EQ(reader.feed(".\r\n"), 0U);
  EXPECT_EQ(reader.message().data, "Subject: x\r\n\r\nbody\r\n");
}

TEST(DataReader, PipelinedBytesAfterEmptyMessage) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedAll(reader, ".\r\nQUIT\r\n"), 3U);
  EXPECT_TRUE(reader.done());
}

struct SmugglingCase {
  const char* name;
  std::string_view marker;
  std::uint32_t problems;
};

class DataReaderSmuggling : public ::testing::TestWithParam<SmugglingCase> {};

// A fake end marker followed by a smuggled second transaction must not end the message; the
// whole thing is one message, flagged, and it ends only at the real CRLF.CRLF.
TEST_P(DataReaderSmuggling, RefusesFakeEndMarkerInBody) {
  const auto& c = GetParam();
  const std::string head = "Subject: x\r\n\r\nbody";
  const std::string smuggled = std::string(c.marker) +
                               "MAIL FROM:<admin@victim.example>\r\nRCPT TO:<x@victim.example>"
                               "\r\nDATA\r\nSubject: forged\r\n";
  const std::string tail = "\r\n.\r\nQUIT\r\n";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(reader.feed(head + smuggled), head.size() + smuggled.size());
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), c.problems);
  EXPECT_EQ(reader.feed(tail), tail.size() - 6);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), c.problems);
  EXPECT_EQ(reader.received(), head.size() + smuggled.size() + tail.size() - 6);
  EXPECT_NE(reader.message().data.find("Subject: forged"), std::string::npos);
}

TEST_P(DataReaderSmuggling, RefusesFakeEndMarkerFedBytewise) {
  const auto& c = GetParam();
  const std::string input = "body" + std::string(c.marker) + "MAIL FROM:<x@y.example>\r\n.\r\nQUIT";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(feedBytewise(reader, input), input.size() - 4);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), c.problems);
}

TEST_P(DataReaderSmuggling, RefusesFakeEndMarkerAtStartOfData) {
  const auto& c = GetParam();
  // At the very start of DATA the reader is at a line start, as after a CRLF.
  std::string marker(c.marker);
  if (marker.starts_with("\r\n")) {
    marker = marker.substr(2);
  }
  const std::string input = marker + "X\r\n.\r\n";
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(reader.feed(input), input.size());
  EXPECT_TRUE(reader.done());
  EXPECT_NE(reader.problems() & (DataReader::kBareCr | DataReader::kBareLf), 0U);
}

TEST_P(DataReaderSmuggling, FakeEndMarkerAloneDoesNotEnd) {
  const auto& c = GetParam();
  DataReader reader(kMaxSize, kMaxLine);
  const std::string input = "body" + std::string(c.marker) + "X";
  EXPECT_EQ(reader.feed(input), input.size());
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), c.problems);
}

INSTANTIATE_TEST_SUITE_P(
    AllVariants, DataReaderSmuggling,
    ::testing::Values(SmugglingCase{"LfDotLf", "\n.\n", DataReader::kBareLf},
                      SmugglingCase{"CrDotCr", "\r.\r", DataReader::kBareCr},
                      SmugglingCase{"LfDotCrLf", "\n.\r\n", DataReader::kBareLf},
                      SmugglingCase{"CrLfDotLf", "\r\n.\n", DataReader::kBareLf},
                      SmugglingCase{"CrDotCrLf", "\r.\r\n", DataReader::kBareCr},
                      SmugglingCase{"CrLfDotCr", "\r\n.\r", DataReader::kBareCr},
                      SmugglingCase{"LfDotLfCrLf", "\n.\n\r\n", DataReader::kBareLf},
                      SmugglingCase{"CrLfDotCrCr", "\r\n.\r\r", DataReader::kBareCr}),
    [](const ::testing::TestParamInfo<SmugglingCase>& param_info) {
      return param_info.param.name;
    });

TEST(DataReader, RefusesBareLfDotLf) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(reader.feed("a\n.\n"), 4U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kBareLf);
}

TEST(DataReader, CrLfDotCrThenXIsNotTheEnd) {
  DataReader reader(kMaxSize, kMaxLine);
  EXPECT_EQ(reader.feed("a\r\n.\r"), 5U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);  // undecided until the next byte
  EXPECT_EQ(reader.feed("X"), 1U);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kBareCr);
  EXPECT_EQ(reader.feed("\r\n.\r\n"), 5U);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kBareCr);
}

TEST(DataReader, BareCrAndBareLfInsideLines) {
  DataReader cr(kMaxSize, kMaxLine);
  cr.feed("a\rb\r\n.\r\n");
  EXPECT_TRUE(cr.done());
  EXPECT_EQ(cr.problems(), DataReader::kBareCr);

  DataReader lf(kMaxSize, kMaxLine);
  lf.feed("a\nb\r\n.\r\n");
  EXPECT_TRUE(lf.done());
  EXPECT_EQ(lf.problems(), DataReader::kBareLf);

  DataReader crcr(kMaxSize, kMaxLine);
  crcr.feed("a\r\r\n.\r\n");
  EXPECT_TRUE(crcr.done());
  EXPECT_EQ(crcr.problems(), DataReader::kBareCr);
}

TEST(DataReader, FlagsNulButKeepsReading) {
  DataReader reader(kMaxSize, kMaxLine);
  const std::string input("a\0b\r\n\0\r\n.\r\n", 11);
  EXPECT_EQ(reader.feed(input), input.size());
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNul);
  EXPECT_EQ(reader.message().data, std::string("a\0b\r\n\0\r\n", 8));
}

TEST(DataReader, LineOf998OctetsIsAccepted) {
  const std::string line(998, 'x');
  DataReader reader(kMaxSize, kMaxLine);
  reader.feed(line + "\r\n.\r\n");
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(reader.message().data, line + "\r\n");
}

TEST(DataReader, LineOf999OctetsIsTooLong) {
  const std::string line(999, 'x');
  DataReader reader(kMaxSize, kMaxLine);
  reader.feed(line + "\r\n.\r\n");
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kLineTooLong);
}

TEST(DataReader, LineLengthCountsAcrossFeedsAndResetsPerLine) {
  DataReader reader(kMaxSize, kMaxLine);
  reader.feed(std::string(500, 'x'));
  reader.feed(std::string(498, 'y'));
  reader.feed("\r\n");
  reader.feed(std::string(998, 'z') + "\r\n");
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  reader.feed(std::string(600, 'x'));
  reader.feed(std::string(399, 'x'));
  EXPECT_EQ(reader.problems(), DataReader::kLineTooLong);
  reader.feed("\r\n.\r\n");
  EXPECT_TRUE(reader.done());
}

TEST(DataReader, StuffedDotCountsTowardsLineLength) {
  // 998 octets as sent (a stuffing dot and 997 more): accepted, stored without the dot.
  DataReader ok(kMaxSize, kMaxLine);
  ok.feed("." + std::string(997, 'a') + "\r\n.\r\n");
  EXPECT_TRUE(ok.done());
  EXPECT_EQ(ok.problems(), DataReader::kNone);
  EXPECT_EQ(ok.message().data, std::string(997, 'a') + "\r\n");

  DataReader too_long(kMaxSize, kMaxLine);
  too_long.feed("." + std::string(998, 'a') + "\r\n.\r\n");
  EXPECT_TRUE(too_long.done());
  EXPECT_EQ(too_long.problems(), DataReader::kLineTooLong);
}

TEST(DataReader, SizeLimitStillFindsEndMarker) {
  DataReader reader(100, kMaxLine);
  const std::string input = std::string(80, 'a') + "\r\n" + std::string(80, 'b') + "\r\n.\r\nQUIT";
  EXPECT_EQ(reader.feed(input), input.size() - 4);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kTooBig);
  EXPECT_LE(reader.message().data.size(), 100U);
  EXPECT_EQ(reader.received(), input.size() - 4);
}

TEST(DataReader, SizeLimitBytewise) {
  DataReader reader(10, kMaxLine);
  const std::string input = std::string(50, 'a') + "\r\n.\r\n";
  EXPECT_EQ(feedBytewise(reader, input), input.size());
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kTooBig);
  EXPECT_LE(reader.message().data.size(), 10U);
}

TEST(DataReader, MessageExactlyAtSizeLimitIsAccepted) {
  DataReader exact(10, kMaxLine);
  exact.feed("12345678\r\n.\r\n");
  EXPECT_TRUE(exact.done());
  EXPECT_EQ(exact.problems(), DataReader::kNone);
  EXPECT_EQ(exact.message().data, "12345678\r\n");

  DataReader over(10, kMaxLine);
  over.feed("123456789\r\n.\r\n");
  EXPECT_TRUE(over.done());
  EXPECT_EQ(over.problems(), DataReader::kTooBig);
}

TEST(DataReader, ProblemsAccumulate) {
  DataReader reader(10, kMaxLine);
  reader.feed(std::string("a\0\nb\rc", 6) + std::string(1200, 'x') + "\r\n.\r\n");
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNul | DataReader::kBareLf | DataReader::kBareCr |
                                   DataReader::kLineTooLong | DataReader::kTooBig);
}

// Reference: the reader must stop exactly after the first CRLF.CRLF (a leading ".\r\n" counts,
// as DATA's own CRLF precedes it), and nowhere else.
std::size_t referenceEnd(const std::string& input) {
  const std::string framed = "\r\n" + input;
  const auto pos = framed.find("\r\n.\r\n");
  return pos == std::string::npos ? std::string::npos : pos + 5 - 2;
}

TEST(DataReader, EndsExactlyAtFirstCrLfDotCrLfOnRandomInput) {
  std::mt19937 rng(12345);
  const char alphabet[] = {'\r', '\n', '.', 'a'};
  for (int round = 0; round < 20000; ++round) {
    std::string input(rng() % 24, 'a');
    for (auto& ch : input) {
      ch = alphabet[rng() % 4];
    }
    DataReader reader(kMaxSize, kMaxLine);
    std::size_t consumed = 0;
    std::size_t pos = 0;
    while (pos < input.size()) {
      const std::size_t chunk = 1 + rng() % 5;
      const auto n = reader.feed(std::string_view(input).substr(pos, chunk));
      consumed += n;
      pos += chunk;
      if (reader.done()) {
        break;
      }
    }
    const auto expected = referenceEnd(input);
    if (expected == std::string::npos) {
      ASSERT_FALSE(reader.done()) << "input: " << ::testing::PrintToString(input);
      ASSERT_EQ(consumed, input.size());
    } else {
      ASSERT_TRUE(reader.done()) << "input: " << ::testing::PrintToString(input);
      ASSERT_EQ(consumed, expected) << "input: " << ::testing::PrintToString(input);
    }
  }
}

}  // namespace
}  // namespace relayguard::smtp
