// strings: small ASCII string helpers shared by the protocol, config and CLI code.
// SMTP keywords and domains are ASCII and compared case-insensitively; nothing here is
// locale-dependent.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relayguard {

char asciiLower(char c);
std::string toLower(std::string_view s);
// A host or domain name as names are compared: lower case, without trailing dots.
std::string domainKey(std::string_view name);
bool iequals(std::string_view a, std::string_view b);
bool istartsWith(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string_view> splitWhitespace(std::string_view s);
// True when every byte is printable US-ASCII or a space/tab.
bool isPrintableAscii(std::string_view s);
// Where the first of `stops` is at or after `pos` in s, or npos: s.find_first_of(stops, pos), for
// message-sized input. That calls memchr on `stops` once per byte of s, and a memchr per stop over
// all the rest would cost the length of s on each call (quadratic over a line-by-line scan of
// input without line ends); this runs memchr per stop over windows of a few hundred bytes, so its
// cost grows with the distance to the match.
std::size_t findFirstOf(std::string_view s, std::size_t pos, std::string_view stops);

// What a line-by-line pass over mail text may take whole: the run of complete lines starting at
// `from`, each ending in CRLF with no other CR or LF in it, none starting with a dot (the first
// one only if at_line_start), none longer than max_content octets before its CRLF (the first
// counting `carried` octets of it that came earlier) and, with `nul_stops`, none holding a NUL.
// The run is [from, end); end == from when the first line is not such a line (or is not
// complete). retry_at is past the line end of the line that stopped the run (the size of s when
// no line end follows): a run can only begin again there, and a caller that tries before it
// scans that line once more, which over input full of NULs or stray CRs would be quadratic.
struct PlainLines {
  bool at_line_start = true;
  std::size_t carried = 0;
  std::size_t max_content = std::string_view::npos;
  bool nul_stops = false;
};
struct PlainRun {
  std::size_t end = 0;
  std::size_t retry_at = 0;
};
PlainRun plainLines(std::string_view s, std::size_t from, const PlainLines& rules);

}  // namespace relayguard
