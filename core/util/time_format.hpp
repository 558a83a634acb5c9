// time_format: the date notations mail needs: RFC 5322 for headers (Date:, Received:) and
// RFC 3339 UTC for logs and machine-readable output.
#pragma once

#include <chrono>
#include <string>

namespace relayguard {

using SystemTime = std::chrono::system_clock::time_point;

std::string rfc5322Date(SystemTime t);
std::string rfc3339(SystemTime t);
std::int64_t toUnixSeconds(SystemTime t);
SystemTime fromUnixSeconds(std::int64_t s);

}  // namespace relayguard
