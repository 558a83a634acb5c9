// units_test: the config size ("25M") and duration ("5m") notations and formatDuration().
#include "core/util/units.hpp"

#include <chrono>
#include <optional>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

using std::chrono::seconds;

TEST(Units, SizeBareNumberIsBytes) {
  EXPECT_EQ(parseSize("0"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(parseSize("1234"), std::optional<std::uint64_t>(1234));
}

TEST(Units, SizeSuffixesArePowersOf1024) {
  EXPECT_EQ(parseSize("1K"), std::optional<std::uint64_t>(1024));
  EXPECT_EQ(parseSize("2k"), std::optional<std::uint64_t>(2048));
  EXPECT_EQ(parseSize("25M"), std::optional<std::uint64_t>(25ULL * 1024 * 1024));
  EXPECT_EQ(parseSize("3m"), std::optional<std::uint64_t>(3ULL * 1024 * 1024));
  EXPECT_EQ(parseSize("4G"), std::optional<std::uint64_t>(4ULL * 1024 * 1024 * 1024));
  EXPECT_EQ(parseSize("1g"), std::optional<std::uint64_t>(1024ULL * 1024 * 1024));
}

TEST(Units, SizeRefusesInvalidText) {
  EXPECT_EQ(parseSize(""), std::nullopt);
  EXPECT_EQ(parseSize("K"), std::nullopt);
  EXPECT_EQ(parseSize("10T"), std::nullopt);
  EXPECT_EQ(parseSize("10MB"), std::nullopt);
  EXPECT_EQ(parseSize("-1"), std::nullopt);
  EXPECT_EQ(parseSize("+1"), std::nullopt);
  EXPECT_EQ(parseSize(" 1"), std::nullopt);
  EXPECT_EQ(parseSize("1 "), std::nullopt);
  EXPECT_EQ(parseSize("1 M"), std::nullopt);
  EXPECT_EQ(parseSize("1.5M"), std::nullopt);
  EXPECT_EQ(parseSize("0x10"), std::nullopt);
  EXPECT_EQ(parseSize("abc"), std::nullopt);
}

TEST(Units, SizeRefusesOverflow) {
  EXPECT_EQ(parseSize("18446744073709551615"),
            std::optional<std::uint64_t>(18446744073709551615ULL));
  EXPECT_EQ(parseSize("18446744073709551616"), std::nullopt);
  // 2^34 G = 2^64 bytes: one past the largest value.
  EXPECT_EQ(parseSize("17179869184G"), std::nullopt);
  EXPECT_EQ(parseSize("17179869183G"), std::optional<std::uint64_t>(17179869183ULL << 30));
  EXPECT_EQ(parseSize("18014398509481984K"), std::nullopt);
}

TEST(Units, DurationSuffixes) {
  EXPECT_EQ(parseDuration("45"), std::optional<seconds>(45));
  EXPECT_EQ(parseDuration("30s"), std::optional<seconds>(30));
  EXPECT_EQ(parseDuration("5m"), std::optional<seconds>(300));
  EXPECT_EQ(parseDuration("4h"), std::optional<seconds>(4 * 3600));
  EXPECT_EQ(parseDuration("5d"), std::optional<seconds>(5 * 86400));
  EXPECT_EQ(parseDuration("0s"), std::optional<seconds>(0));
}

TEST(Units, DurationRefusesInvalidText) {
  EXPECT_EQ(parseDuration(""), std::nullopt);
  EXPECT_EQ(parseDuration("m"), std::nullopt);
  EXPECT_EQ(parseDuration("5M"), std::nullopt);  // upper case M would be ambiguous with months
  EXPECT_EQ(parseDuration("5w"), std::nullopt);
  EXPECT_EQ(parseDuration("1h30m"), std::nullopt);
  EXPECT_EQ(parseDuration("-5s"), std::nullopt);
  EXPECT_EQ(parseDuration("5 s"), std::nullopt);
  EXPECT_EQ(parseDuration("1.5h"), std::nullopt);
}

TEST(Units, DurationRefusesOverflow) {
  EXPECT_EQ(parseDuration("9223372036854775807"), std::optional<seconds>(9223372036854775807LL));
  EXPECT_EQ(parseDuration("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parseDuration("18446744073709551616s"), std::nullopt);
  EXPECT_EQ(parseDuration("213503982334601d"), std::nullopt);  // * 86400 > 2^63
  EXPECT_EQ(parseDuration("106751991167300d"), std::optional<seconds>(106751991167300LL * 86400));
  EXPECT_EQ(parseDuration("307445734561825861m"), std::nullopt);  // * 60 > 2^64
}

TEST(Units, FormatDuration) {
  EXPECT_EQ(formatDuration(seconds(0)), "0s");
  EXPECT_EQ(formatDuration(seconds(-5)), "0s");
  EXPECT_EQ(formatDuration(seconds(59)), "59s");
  EXPECT_EQ(formatDuration(seconds(60)), "1m");
  EXPECT_EQ(formatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(formatDuration(seconds(3600)), "1h");
  EXPECT_EQ(formatDuration(seconds(5400)), "1h30m");
  EXPECT_EQ(formatDuration(seconds(86400)), "1d");
  EXPECT_EQ(formatDuration(seconds(86400 + 3600 + 60 + 1)), "1d1h1m1s");
  EXPECT_EQ(formatDuration(seconds(5 * 86400 + 7)), "5d7s");
}

TEST(Units, FormatDurationRoundTripsThroughParseForSingleUnits) {
  for (const char* text : {"30s", "5m", "4h", "5d"}) {
    const auto d = parseDuration(text);
    ASSERT_TRUE(d.has_value()) << text;
    EXPECT_EQ(formatDuration(*d), text);
  }
}

}  // namespace
}  // namespace relayguard
