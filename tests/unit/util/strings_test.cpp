// strings_test: findFirstOf agrees with std::string_view::find_first_of, also across its
// internal windows, with NUL among the stops, and from any starting position; plainLines
// agrees with a line-by-line reference.
#include "core/util/strings.hpp"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

TEST(FindFirstOf, AgreesWithFindFirstOfOnRandomInput) {
  const std::string_view stops("\r\n\0", 3);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    // Sparse stops, so that matches fall inside, at the edge of and far beyond a window.
    const std::size_t size = rng() % 2000;
    const unsigned sparseness = 1 + rng() % 1000;
    std::string s(size, 'a');
    for (auto& c : s) {
      if (rng() % sparseness == 0) {
        c = stops[rng() % stops.size()];
      }
    }
    for (std::size_t pos : {std::size_t{0}, size / 3, size, size + 5}) {
      EXPECT_EQ(findFirstOf(s, pos, stops), std::string_view(s).find_first_of(stops, pos))
          << "round " << round << " pos " << pos;
    }
  }
}

TEST(FindFirstOf, FindsTheEarliestStopNotTheFirstListed) {
  EXPECT_EQ(findFirstOf("ab\ncd\r", 0, "\r\n"), 2U);
  EXPECT_EQ(findFirstOf(std::string(300, 'x') + "\r" + std::string(10, 'y') + "\n", 0, "\n\r"),
            300U);
  EXPECT_EQ(findFirstOf(std::string(1000, 'x'), 0, "\r\n"), std::string_view::npos);
  EXPECT_EQ(findFirstOf("", 0, "\r\n"), std::string_view::npos);
}

// The end of plainLines' run, one line at a time with the plainest code.
std::size_t referencePlainLinesEnd(std::string_view s, std::size_t from, const PlainLines& rules) {
  std::size_t pos = from;
  std::size_t carried = rules.carried;
  bool line_start = rules.at_line_start;
  for (;;) {
    const std::size_t crlf = s.find("\r\n", pos);
    if (crlf == std::string_view::npos) {
      return pos;
    }
    const std::string_view content = s.substr(pos, crlf - pos);
    const bool plain = !(line_start && content.starts_with('.')) &&
                       content.find_first_of("\r\n") == std::string_view::npos &&
                       !(rules.nul_stops && content.find('\0') != std::string_view::npos) &&
                       carried + content.size() <= rules.max_content;
    if (!plain) {
      return pos;
    }
    pos = crlf + 2;
    carried = 0;
    line_start = true;
  }
}

TEST(PlainLinesEnd, AgreesWithALineByLineReference) {
  const char alphabet[] = {'\r', '\n', '.', '\0', 'a', 'a', 'a', 'a'};
  std::mt19937 rng(11);
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 40, 'a');
    for (auto& c : s) {
      c = alphabet[rng() % sizeof alphabet];
    }
    PlainLines rules;
    rules.at_line_start = rng() % 2 == 0;
    rules.carried = rng() % 4;
    rules.max_content = rng() % 2 == 0 ? std::string_view::npos : rng() % 8;
    rules.nul_stops = rng() % 2 == 0;
    const std::size_t from = s.empty() ? 0 : rng() % s.size();
    const PlainRun run = plainLines(s, from, rules);
    // A run can begin again only past the line end of the line that stopped this one.
    const std::size_t lf = s.find('\n', run.end);
    ASSERT_EQ(run.retry_at, run.end == s.size()       ? s.size()
                            : lf == std::string::npos ? s.size()
                                                      : lf + 1)
        << ::testing::PrintToString(s) << " from " << from;
    ASSERT_EQ(run.end, referencePlainLinesEnd(s, from, rules))
        << ::testing::PrintToString(s) << " from " << from;
  }
}

TEST(PlainLinesEnd, StopsWhereALineNeedsAttention) {
  EXPECT_EQ(plainLines("ab\r\ncd\r\n.e\r\n", 0, {}).end, 8U);
  EXPECT_EQ(plainLines(".ab\r\ncd\r\n", 0, {.at_line_start = false}).end, 9U);
  EXPECT_EQ(plainLines("ab\r\ncd", 0, {}).end, 4U);  // an incomplete line waits
  EXPECT_EQ(plainLines("ab\ncd\r\n", 0, {}).end, 0U);
  EXPECT_EQ(plainLines(std::string("a\0b\r\n", 5), 0, {.nul_stops = true}).end, 0U);
  EXPECT_EQ(plainLines("abc\r\nabcd\r\n", 0, {.max_content = 3}).end, 5U);
  EXPECT_EQ(plainLines("abc\r\n", 0, {.carried = 1, .max_content = 3}).end, 0U);
  // Where the next try is worth making: past the line that stopped the run.
  EXPECT_EQ(plainLines("ab\r\nc\rd\r\nef\r\n", 0, {}).retry_at, 9U);
  EXPECT_EQ(plainLines(std::string("a\0b\0c"), 0, {.nul_stops = true}).retry_at, 1U);
  EXPECT_EQ(plainLines(std::string("a\0b\0c", 5), 0, {.nul_stops = true}).retry_at, 5U);
}

}  // namespace
}  // namespace relayguard
