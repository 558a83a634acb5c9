// host_list: reading lists/NAME.txt and matching a host or its parent domains (see rule_set.hpp).
//
// File format: one host name per line; '#' starts a comment (whole line or after an entry);
// blank lines are ignored. Entries are stored lower case without a trailing dot and must be
// ASCII domain names (internationalised names in their xn-- form), so a typo is reported at
// its file:line:col instead of silently never matching.
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "core/message/address.hpp"
#include "core/util/strings.hpp"
#include "rules/rule_set.hpp"

namespace relayguard::rules {
namespace {

bool isBlank(char c) {
  return c == ' ' || c == '\t';
}

// Lower case, one trailing dot removed: the form entries are stored and looked up in.
std::string normalizeHost(std::string_view host) {
  std::string out = toLower(host);
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

std::string invalidEntryMessage(std::string_view entry) {
  std::string what = "'" + std::string(entry) + "' is not a valid host name";
  if (entry.starts_with("*.")) {
    what += " (no wildcards: a listed domain already covers all its subdomains)";
  } else {
    what += " (letters, digits, '-' and '.'; internationalised names in their xn-- form)";
  }
  return what;
}

}  // namespace

HostList HostList::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError(SourcePosition{file}, "cannot open the list for reading");
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw ConfigError(SourcePosition{file}, "cannot read the list");
  }

  HostList list;
  unsigned line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_no;

    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::size_t first = 0;
    while (first < line.size() && isBlank(line[first])) {
      ++first;
    }
    std::size_t last = line.size();
    while (last > first && isBlank(line[last - 1])) {
      --last;
    }
    if (first == last) {
      continue;
    }
    const std::string_view entry = line.substr(first, last - first);
    const auto column = static_cast<unsigned>(first + 1);
    for (std::size_t i = 0; i < entry.size(); ++i) {
      if (isBlank(entry[i])) {
        throw ConfigError(SourcePosition{file, line_no, static_cast<unsigned>(first + i + 1)},
                          "one host name per line");
      }
    }
    std::string host = normalizeHost(entry);
    if (!isValidDomain(host, false)) {
      throw ConfigError(SourcePosition{file, line_no, column}, invalidEntryMessage(entry));
    }
    list.hosts_.insert(std::move(host));
  }
  return list;
}

bool HostList::containsHostOrParent(std::string_view host) const {
  const std::string normal = normalizeHost(host);
  std::string_view candidate = normal;
  while (!candidate.empty()) {
    if (hosts_.contains(candidate)) {
      return true;
    }
    const auto dot = candidate.find('.');
    if (dot == std::string_view::npos) {
      return false;
    }
    candidate.remove_prefix(dot + 1);
  }
  return false;
}

}  // namespace relayguard::rules
