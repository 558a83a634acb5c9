// strings_test: findFirstOf agrees with std::string_view::find_first_of, also across its
// internal windows, with NUL among the stops, and from any starting position.
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

}  // namespace
}  // namespace relayguard
