// queue_id_test: generation (length, alphabet, uniqueness, time order) and strict parsing.
#include "core/queue/queue_id.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <unordered_set>

#include <gtest/gtest.h>

namespace relayguard::queue {
namespace {

TEST(QueueId, GenerateIs20CharsOfTheAlphabet) {
  const auto id = QueueId::generate();
  ASSERT_EQ(id.str().size(), 20U);
  for (char c : id.str()) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'V')) << id.str();
  }
}

TEST(QueueId, GeneratedIdsParseBack) {
  const auto id = QueueId::generate();
  const auto parsed = QueueId::parse(id.str());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
  EXPECT_EQ(parsed->str(), id.str());
}

TEST(QueueId, UniqueOver100kCalls) {
  std::unordered_set<std::string> seen;
  seen.reserve(100000);
  for (int i = 0; i < 100000; ++i) {
    const auto id = QueueId::generate();
    ASSERT_TRUE(seen.insert(id.str()).second) << "duplicate " << id.str() << " after " << i;
  }
  EXPECT_EQ(seen.size(), 100000U);
}

TEST(QueueId, SortsByTime) {
  const auto first = QueueId::generate();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto second = QueueId::generate();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto third = QueueId::generate();
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(first.str(), second.str());
  // The first 12 characters are the timestamp.
  EXPECT_LT(first.str().substr(0, 12), second.str().substr(0, 12));
}

TEST(QueueId, TimestampPrefixIsCurrentTime) {
  const auto before = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto id = QueueId::generate();
  std::uint64_t t = 0;
  for (char c : id.str().substr(0, 12)) {
    const auto digit = c <= '9' ? c - '0' : c - 'A' + 10;
    t = (t << 5) | static_cast<std::uint64_t>(digit);
  }
  EXPECT_GE(t, static_cast<std::uint64_t>(before));
  EXPECT_LT(t, static_cast<std::uint64_t>(before) + 10'000'000U);
}

TEST(QueueId, ParseAcceptsTheAlphabetAndLengthRange) {
  EXPECT_TRUE(QueueId::parse("ABCDEFGH").has_value());
  EXPECT_TRUE(QueueId::parse("0123456789ABCDEFGHIJKLMNOPQRSTUV").has_value());  // 32
  EXPECT_EQ(QueueId::parse("01234567ZZ")->str(), "01234567ZZ");
}

TEST(QueueId, ParseRefusesPathCharacters) {
  EXPECT_FALSE(QueueId::parse("ABCDEFGH/IJ").has_value());
  EXPECT_FALSE(QueueId::parse("../ABCDEFGHIJ").has_value());
  EXPECT_FALSE(QueueId::parse("..ABCDEFGHIJ").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDEFGH.env").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDEFGH\\IJ").has_value());
  EXPECT_FALSE(QueueId::parse(std::string("ABCDEFGH\0IJ", 11)).has_value());
}

TEST(QueueId, ParseRefusesLowercaseAndOtherCharacters) {
  EXPECT_FALSE(QueueId::parse("abcdefghij").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDEFGHIj").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDE FGHIJ").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDE-FGHIJ").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDE\xc3\x89"
                              "FGHIJ")
                   .has_value());
}

TEST(QueueId, ParseRefusesTooShortOrTooLong) {
  EXPECT_FALSE(QueueId::parse("").has_value());
  EXPECT_FALSE(QueueId::parse("ABCDEFG").has_value());  // 7
  EXPECT_FALSE(QueueId::parse(std::string(33, 'A')).has_value());
  EXPECT_TRUE(QueueId::parse(std::string(8, 'A')).has_value());
  EXPECT_TRUE(QueueId::parse(std::string(32, 'A')).has_value());
}

}  // namespace
}  // namespace relayguard::queue
