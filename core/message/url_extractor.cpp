// url_extractor: URL extraction from text and HTML, HTML character-reference decoding, and
// urlHost() (see url_extractor.hpp and mime_view.hpp).
#include "core/message/url_extractor.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/message/mime_view.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool isHexDigit(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hexValue(char c) {
  if (isDigit(c)) {
    return c - '0';
  }
  return asciiLower(c) - 'a' + 10;
}

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    cp = 0xFFFD;
  }
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Named references worth decoding for URL extraction (names are case-sensitive in HTML).
constexpr std::array<std::pair<std::string_view, std::uint32_t>, 36> kNamedEntities{{
    {"amp", '&'},    {"AMP", '&'},    {"lt", '<'},     {"LT", '<'},     {"gt", '>'},
    {"GT", '>'},     {"quot", '"'},   {"QUOT", '"'},   {"apos", '\''},  {"nbsp", 0xA0},
    {"colon", ':'},  {"sol", '/'},    {"bsol", '\\'},  {"period", '.'}, {"comma", ','},
    {"semi", ';'},   {"quest", '?'},  {"equals", '='}, {"num", '#'},    {"percnt", '%'},
    {"commat", '@'}, {"excl", '!'},   {"plus", '+'},   {"hyphen", '-'}, {"dash", 0x2010},
    {"lowbar", '_'}, {"tilde", '~'},  {"lpar", '('},   {"rpar", ')'},   {"lsqb", '['},
    {"rsqb", ']'},   {"lbrack", '['}, {"rbrack", ']'}, {"Tab", '\t'},   {"NewLine", '\n'},
    {"dollar", '$'},
}};

// Decodes the reference starting at html[i] == '&'; returns the length consumed (0: not one).
std::size_t decodeReference(std::string_view html, std::size_t i, std::string& out) {
  std::size_t j = i + 1;
  if (j < html.size() && html[j] == '#') {
    ++j;
    const bool hex = j < html.size() && (html[j] == 'x' || html[j] == 'X');
    if (hex) {
      ++j;
    }
    const std::size_t digits_start = j;
    std::uint32_t cp = 0;
    while (j < html.size() && (hex ? isHexDigit(html[j]) : isDigit(html[j]))) {
      if (cp <= 0x10FFFF) {
        cp = cp * (hex ? 16 : 10) +
             static_cast<std::uint32_t>(hex ? hexValue(html[j]) : html[j] - '0');
      }
      ++j;
    }
    if (j == digits_start) {
      return 0;
    }
    if (j < html.size() && html[j] == ';') {
      ++j;
    }
    appendUtf8(out, cp);
    return j - i;
  }
  while (j < html.size() && j - i <= 10 && isAsciiAlnum(html[j])) {
    ++j;
  }
  if (j >= html.size() || html[j] != ';') {
    return 0;
  }
  const std::string_view name = html.substr(i + 1, j - i - 1);
  for (const auto& [entity, cp] : kNamedEntities) {
    if (entity == name) {
      appendUtf8(out, cp);
      return j + 1 - i;
    }
  }
  return 0;
}

// Bytes that end a URL in running text.
bool endsUrl(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '"' || c == '\'' || c == '`') {
    return true;
  }
  // U+00A0 NO-BREAK SPACE (what &nbsp; decodes to)
  return c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xA0;
}

// Drops trailing punctuation and closing brackets that have no opening partner in the URL.
std::string_view trimUrlEnd(std::string_view url) {
  while (!url.empty()) {
    const char last = url.back();
    if (std::string_view(".,;:!?'\"*").find(last) != std::string_view::npos) {
      url.remove_suffix(1);
      continue;
    }
    const char open = last == ')' ? '(' : last == ']' ? '[' : last == '}' ? '{' : '\0';
    if (open != '\0' &&
        std::count(url.begin(), url.end(), open) < std::count(url.begin(), url.end(), last)) {
      url.remove_suffix(1);
      continue;
    }
    break;
  }
  return url;
}

// Length of the scheme prefix ("http://", "https://", "ftp://", "www.") at text[i], or 0.
std::size_t urlPrefixAt(std::string_view text, std::size_t i) {
  static constexpr std::array<std::string_view, 3> kSchemes{"http://", "https://", "ftp://"};
  const std::string_view rest = text.substr(i);
  for (const std::string_view scheme : kSchemes) {
    if (istartsWith(rest, scheme)) {
      return scheme.size();
    }
  }
  if (istartsWith(rest, "www.")) {
    // A bare host must start a word: not "awww.x" nor the "www." inside "http://www.x".
    if (i > 0) {
      const char before = text[i - 1];
      if (isAsciiAlnum(before) || before == '.' || before == '-' || before == '_' ||
          before == '/' || before == '@') {
        return 0;
      }
    }
    return 4;
  }
  return 0;
}

struct Found {
  std::size_t position;
  std::string url;
};

void scanText(std::string_view text, std::vector<Found>& found) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = asciiLower(text[i]);
    const std::size_t prefix = (c == 'h' || c == 'f' || c == 'w') ? urlPrefixAt(text, i) : 0;
    if (prefix == 0) {
      ++i;
      continue;
    }
    std::size_t end = i + prefix;
    while (end < text.size() && !endsUrl(text, end)) {
      ++end;
    }
    const std::string_view url = trimUrlEnd(text.substr(i, end - i));
    if (url.size() > prefix) {
      const char first = url[prefix];
      if (isAsciiAlnum(first) || static_cast<unsigned char>(first) >= 0x80 || first == '[') {
        found.push_back({i, std::string(url)});
      }
    }
    i = std::max(end, i + 1);
  }
}

// The value of an attribute whose name ends at html[name_end], or npos if it has none.
// Sets `value` to the raw value (quotes removed).
std::size_t attributeValue(std::string_view html, std::size_t name_end, std::string_view& value) {
  std::size_t j = name_end;
  while (j < html.size() &&
         (html[j] == ' ' || html[j] == '\t' || html[j] == '\r' || html[j] == '\n')) {
    ++j;
  }
  if (j >= html.size() || html[j] != '=') {
    return std::string_view::npos;
  }
  ++j;
  while (j < html.size() &&
         (html[j] == ' ' || html[j] == '\t' || html[j] == '\r' || html[j] == '\n')) {
    ++j;
  }
  if (j >= html.size()) {
    return std::string_view::npos;
  }
  const std::size_t start = j;
  if (html[j] == '"' || html[j] == '\'') {
    const std::size_t close = html.find(html[j], j + 1);
    const std::size_t end = close == std::string_view::npos ? html.size() : close;
    value = html.substr(j + 1, end - j - 1);
    return start;
  }
  while (j < html.size() && html[j] != '>' && static_cast<unsigned char>(html[j]) > 0x20) {
    ++j;
  }
  value = html.substr(start, j - start);
  return start;
}

void scanAttributes(std::string_view html, std::vector<Found>& found) {
  for (std::size_t i = 0; i < html.size(); ++i) {
    const char c = asciiLower(html[i]);
    if (c != 'h' && c != 's' && c != 'a' && c != 'b') {
      continue;
    }
    if (i > 0) {
      const char before = html[i - 1];
      if (!(before == ' ' || before == '\t' || before == '\r' || before == '\n' || before == '"' ||
            before == '\'' || before == '/')) {
        continue;
      }
    }
    static constexpr std::array<std::string_view, 4> kAttributes{"href", "src", "action",
                                                                 "background"};
    std::size_t name_len = 0;
    for (const std::string_view name : kAttributes) {
      if (istartsWith(html.substr(i), name)) {
        name_len = name.size();
        break;
      }
    }
    if (name_len == 0) {
      continue;
    }
    std::string_view raw;
    const std::size_t at = attributeValue(html, i + name_len, raw);
    if (at == std::string_view::npos) {
      continue;
    }
    // Browsers drop tabs and newlines inside URLs and trim surrounding spaces.
    std::string url;
    url.reserve(raw.size());
    for (const char ch : raw) {
      if (ch != '\t' && ch != '\r' && ch != '\n') {
        url.push_back(ch);
      }
    }
    const std::string_view value = trim(url);
    if (istartsWith(value, "http://") || istartsWith(value, "https://") ||
        istartsWith(value, "ftp://") || istartsWith(value, "//") || istartsWith(value, "www.")) {
      found.push_back({at, std::string(value)});
    }
    i = at;
  }
}

// Sorts by position; the same URL found twice at one position (an unquoted attribute value
// is also running text) is one occurrence.
void appendInOrder(std::vector<Found>& found, std::vector<std::string>& out) {
  std::stable_sort(found.begin(), found.end(),
                   [](const Found& a, const Found& b) { return a.position < b.position; });
  const auto end = std::unique(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.position == b.position && a.url == b.url;
  });
  for (auto it = found.begin(); it != end; ++it) {
    out.push_back(std::move(it->url));
  }
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && isHexDigit(s[i + 1]) && isHexDigit(s[i + 2])) {
      out.push_back(static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string decodeHtmlEntities(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  std::size_t i = 0;
  while (i < html.size()) {
    const std::size_t amp = html.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(html.substr(i));
      break;
    }
    out.append(html.substr(i, amp - i));
    const std::size_t used = decodeReference(html, amp, out);
    if (used == 0) {
      out.push_back('&');
      i = amp + 1;
    } else {
      i = amp + used;
    }
  }
  return out;
}

void extractTextUrls(std::string_view text, std::vector<std::string>& out) {
  std::vector<Found> found;
  scanText(text, found);
  appendInOrder(found, out);
}

void extractHtmlUrls(std::string_view html, std::vector<std::string>& out) {
  const std::string decoded = decodeHtmlEntities(html);
  std::vector<Found> found;
  scanText(decoded, found);
  scanAttributes(decoded, found);
  appendInOrder(found, out);
}

std::string urlHost(std::string_view url) {
  url = trim(url);
  std::size_t authority = 0;
  // "scheme:" is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  std::size_t colon = 0;
  while (colon < url.size() && (isAsciiAlnum(url[colon]) || url[colon] == '+' ||
                                url[colon] == '-' || url[colon] == '.')) {
    ++colon;
  }
  const bool has_scheme = colon > 0 && colon < url.size() && url[colon] == ':' &&
                          !isDigit(url[0]) && !(colon + 1 < url.size() && isDigit(url[colon + 1]));
  if (has_scheme) {
    const std::string scheme = toLower(url.substr(0, colon));
    const bool special = scheme == "http" || scheme == "https" || scheme == "ftp" ||
                         scheme == "ws" || scheme == "wss";
    std::size_t j = colon + 1;
    if (special) {
      // Browsers accept any number of slashes (and backslashes) here: "http:/\evil".
      while (j < url.size() && (url[j] == '/' || url[j] == '\\')) {
        ++j;
      }
    } else if (url.substr(j).starts_with("//")) {
      j += 2;
    } else {
      return {};  // mailto:, javascript:, data: ... have no host
    }
    authority = j;
  } else if (url.starts_with("//")) {
    authority = 2;
  }
  std::string_view host = url.substr(authority);
  host = host.substr(0, host.find_first_of("/?#\\"));
  const std::size_t at = host.rfind('@');
  if (at != std::string_view::npos) {
    host.remove_prefix(at + 1);
  }
  if (host.starts_with('[')) {
    const std::size_t close = host.find(']');
    host = close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  std::string result = toLower(percentDecode(host));
  while (!result.empty() && result.back() == '.') {
    result.pop_back();
  }
  return result;
}

}  // namespace relayguard
