// exposition: text format escaping and formatting (see exposition.hpp).
#include "core/metrics/exposition.hpp"

#include <cmath>

#include <fmt/format.h>

namespace relayguard::metrics {
namespace {

std::string escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

bool isNameChar(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const bool digit = c >= '0' && c <= '9';
  return alpha || (colon && c == ':') || (!first && digit);
}

bool isName(std::string_view name, bool colon) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!isNameChar(name[i], i == 0, colon)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
  return escape(value, true);
}

std::string escapeHelp(std::string_view text) {
  return escape(text, false);
}

std::string formatValue(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", v);
}

std::string labelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name, std::string_view extra_value) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += (out.empty() ? "{" : ",") + names[i] + "=\"" + escapeLabelValue(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += (out.empty() ? "{" : ",") + std::string(extra_name) + "=\"" +
           escapeLabelValue(extra_value) + "\"";
  }
  return out.empty() ? out : out + "}";
}

bool isValidMetricName(std::string_view name) {
  return isName(name, true);
}

bool isValidLabelName(std::string_view name) {
  return isName(name, false) && !name.starts_with("__");
}

}  // namespace relayguard::metrics
