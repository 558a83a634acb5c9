// exposition_test: escaping and number formatting of the Prometheus text format.
#include "core/metrics/exposition.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace relayguard::metrics {
namespace {

TEST(Exposition, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(escapeLabelValue(R"(a\b"c)"
                             "\n"
                             "d"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(escapeLabelValue("plain-rule_1"), "plain-rule_1");
}

TEST(Exposition, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(escapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(Exposition, ValuesUseGoFloatSpelling) {
  EXPECT_EQ(formatValue(3), "3");
  EXPECT_EQ(formatValue(0.005), "0.005");
  EXPECT_EQ(formatValue(2.5), "2.5");
  EXPECT_EQ(formatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatValue(std::nan("")), "NaN");
}

TEST(Exposition, LabelSets) {
  EXPECT_EQ(labelSet({}, {}), "");
  EXPECT_EQ(labelSet({"a", "b"}, {"x", "y\"z"}), R"({a="x",b="y\"z"})");
  EXPECT_EQ(labelSet({}, {}, "le", "+Inf"), R"({le="+Inf"})");
  EXPECT_EQ(labelSet({"stage"}, {"content"}, "le", "0.5"), R"({stage="content",le="0.5"})");
}

TEST(Exposition, NamesFollowTheDataModel) {
  EXPECT_TRUE(isValidMetricName("relayguard_messages_total"));
  EXPECT_TRUE(isValidMetricName("ns:rule_total"));
  EXPECT_FALSE(isValidMetricName("1abc"));
  EXPECT_FALSE(isValidMetricName("a-b"));
  EXPECT_FALSE(isValidMetricName(""));
  EXPECT_TRUE(isValidLabelName("rule"));
  EXPECT_FALSE(isValidLabelName("a:b"));
  EXPECT_FALSE(isValidLabelName("__name__"));
}

}  // namespace
}  // namespace relayguard::metrics
