// units: parsing of config sizes and durations (see units.hpp).
#include "core/util/units.hpp"

#include <charconv>
#include <limits>

namespace relayguard {
namespace {

// Splits "25M" into 25 and 'M'; the suffix is 0 when absent.
std::optional<std::pair<std::uint64_t, char>> splitNumber(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  char suffix = 0;
  const char last = text.back();
  if (last < '0' || last > '9') {
    suffix = last;
    text.remove_suffix(1);
  }
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return std::make_pair(value, suffix);
}

std::optional<std::uint64_t> multiply(std::uint64_t value, std::uint64_t factor) {
  if (factor != 0 && value > std::numeric_limits<std::uint64_t>::max() / factor) {
    return std::nullopt;
  }
  return value * factor;
}

}  // namespace

std::optional<std::uint64_t> parseSize(std::string_view text) {
  const auto parts = splitNumber(text);
  if (!parts) {
    return std::nullopt;
  }
  switch (parts->second) {
    case 0:
      return parts->first;
    case 'K':
    case 'k':
      return multiply(parts->first, 1024ULL);
    case 'M':
    case 'm':
      return multiply(parts->first, 1024ULL * 1024);
    case 'G':
    case 'g':
      return multiply(parts->first, 1024ULL * 1024 * 1024);
    default:
      return std::nullopt;
  }
}

std::optional<std::chrono::seconds> parseDuration(std::string_view text) {
  const auto parts = splitNumber(text);
  if (!parts) {
    return std::nullopt;
  }
  std::uint64_t factor = 0;
  switch (parts->second) {
    case 0:
    case 's':
      factor = 1;
      break;
    case 'm':
      factor = 60;
      break;
    case 'h':
      factor = 3600;
      break;
    case 'd':
      factor = 86400;
      break;
    default:
      return std::nullopt;
  }
  const auto secs = multiply(parts->first, factor);
  if (!secs || *secs > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return std::chrono::seconds(static_cast<std::int64_t>(*secs));
}

std::string formatDuration(std::chrono::seconds d) {
  auto s = d.count();
  if (s <= 0) {
    return "0s";
  }
  std::string out;
  const struct {
    long long unit;
    char name;
  } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (const auto& u : units) {
    if (s >= u.unit) {
      out += std::to_string(s / u.unit);
      out += u.name;
      s %= u.unit;
    }
  }
  return out;
}

}  // namespace relayguard
