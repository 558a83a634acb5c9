// units: the size ("25M") and duration ("5m") notations of the config file.
// Sizes take K/M/G suffixes (powers of 1024); durations take s/m/h/d. A bare number is bytes or
// seconds. Parsing returns nullopt on anything else so the caller can cite file:line:col.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard {

std::optional<std::uint64_t> parseSize(std::string_view text);
std::optional<std::chrono::seconds> parseDuration(std::string_view text);
// "1h30m"-style rendering for humans (queue list, logs).
std::string formatDuration(std::chrono::seconds d);

}  // namespace relayguard
