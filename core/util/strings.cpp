// strings: small ASCII string helpers (see strings.hpp).
#include "core/util/strings.hpp"

#include <algorithm>
#include <cstring>

namespace relayguard {

char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), asciiLower);
  return out;
}

std::string domainKey(std::string_view name) {
  while (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return toLower(name);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return asciiLower(x) == asciiLower(y);
         });
}

bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::vector<std::string_view> splitWhitespace(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
      ++i;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') {
      ++j;
    }
    if (j > i) {
      out.push_back(s.substr(i, j - i));
    }
    i = j;
  }
  return out;
}

bool isPrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u < 0x7f) || u == '\t';
  });
}

std::size_t findFirstOf(std::string_view s, std::size_t pos, std::string_view stops) {
  constexpr std::size_t kWindow = 256;
  while (pos < s.size()) {
    const std::string_view window = s.substr(pos, kWindow);
    std::size_t first = window.size();
    for (const char stop : stops) {
      const std::size_t at = window.substr(0, first).find(stop);
      if (at != std::string_view::npos) {
        first = at;
      }
    }
    if (first < window.size()) {
      return pos + first;
    }
    pos += window.size();
  }
  return std::string_view::npos;
}

PlainRun plainLines(std::string_view s, std::size_t from, const PlainLines& rules) {
  std::size_t pos = from;
  std::size_t carried = rules.carried;
  bool line_start = rules.at_line_start;
  // Past the end of the line that `at` is in (the size of s when no line end follows).
  const auto pastLineEnd = [&s](std::size_t at) {
    const void* lf = std::memchr(s.data() + at, '\n', s.size() - at);
    return lf == nullptr ? s.size()
                         : static_cast<std::size_t>(static_cast<const char*>(lf) - s.data()) + 1;
  };
  while (pos < s.size()) {
    if (line_start && s[pos] == '.') {
      return {pos, pastLineEnd(pos)};
    }
    const std::size_t next = pastLineEnd(pos);
    const std::size_t lf = next - 1;
    if (next == s.size() && s[lf] != '\n') {
      return {pos, next};  // incomplete
    }
    if (lf == pos || s[lf - 1] != '\r') {
      return {pos, next};  // a bare LF
    }
    const std::size_t content = lf - 1 - pos;
    if (content > rules.max_content || carried > rules.max_content - content ||
        std::memchr(s.data() + pos, '\r', content) != nullptr ||
        (rules.nul_stops && std::memchr(s.data() + pos, '\0', content) != nullptr)) {
      return {pos, next};
    }
    pos = next;
    carried = 0;
    line_start = true;
  }
  return {pos, pos};
}

}  // namespace relayguard
