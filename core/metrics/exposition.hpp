// exposition: the pieces of the Prometheus text exposition format 0.0.4 (what a scrape of
// /metrics reads): escaping of HELP text and label values, number formatting and label sets.
// https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relayguard::metrics {

// Label values: backslash, double quote and line feed are escaped (\\, \", \n).
std::string escapeLabelValue(std::string_view value);
// HELP text: backslash and line feed are escaped.
std::string escapeHelp(std::string_view text);
// A sample value as Go's ParseFloat reads it: shortest round-trip form, +Inf, -Inf, NaN.
std::string formatValue(double v);
// `{a="x",b="y"}` for names and values of equal length, plus one extra pair when extra_name is
// not empty (a histogram's `le`); the empty string when there is no label at all.
std::string labelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {});
// Metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not starting __).
bool isValidMetricName(std::string_view name);
bool isValidLabelName(std::string_view name);

}  // namespace relayguard::metrics
