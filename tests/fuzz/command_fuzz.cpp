// command_fuzz: libFuzzer target for the SMTP command-line parsers. The input is one command
// line as a client could send it; it goes through parseCommand(), parsePathArgument() (as MAIL
// and as RCPT) and Address::parsePath() in every SMTPUTF8/null-path mode, and the results are
// checked against the parsers' promises. Any broken promise aborts (__builtin_trap).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/message/address.hpp"
#include "core/smtp/command.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using relayguard::Address;

// True when `part` lies inside `whole` (the parsers return views, never copies).
bool within(std::string_view part, std::string_view whole) {
  if (part.empty()) {
    return true;
  }
  const auto* begin = whole.data();
  const auto* end = whole.data() + whole.size();
  return part.data() >= begin && part.data() + part.size() <= end;
}

bool hasNonAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

// Checks one parsePath() result against what the relay relies on downstream.
void checkPath(std::string_view path, bool allow_null, bool allow_utf8) {
  const auto r = Address::parsePath(path, allow_null, allow_utf8);
  if (!r.address) {
    FUZZ_CHECK(!r.detail.empty());
    return;
  }
  const Address& a = *r.address;
  FUZZ_CHECK(path.size() <= 256);
  if (a.isNull()) {
    FUZZ_CHECK(allow_null);
    FUZZ_CHECK(path == "<>");
    FUZZ_CHECK(a.str().empty() && a.bracketed() == "<>");
    return;
  }
  // No routing of any kind survives: no source route, no %-hack, no !-hack, one '@'.
  FUZZ_CHECK(a.local().size() >= 1 && a.local().size() <= 64);
  FUZZ_CHECK(!a.domain().empty() && a.domain().size() <= 255);
  FUZZ_CHECK(a.local().find('%') == std::string::npos);
  FUZZ_CHECK(a.local().find('!') == std::string::npos);
  FUZZ_CHECK(a.local().find('@') == std::string::npos);
  FUZZ_CHECK(a.domain().find('@') == std::string::npos);
  FUZZ_CHECK(a.local().front() != '@');
  if (!allow_utf8) {
    FUZZ_CHECK(!hasNonAscii(a.local()) && !hasNonAscii(a.domain()));
  }
  for (char c : a.str()) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f);  // no CR, LF, NUL or other controls reach the spool
  }
  if (a.domain().front() != '[') {
    FUZZ_CHECK(relayguard::isValidDomain(a.domain(), allow_utf8));
  } else {
    FUZZ_CHECK(a.domain().back() == ']');
  }
  // The rendered form is exactly what was parsed and parses back to the same address.
  FUZZ_CHECK(a.bracketed() == path);
  const auto again = Address::parsePath(a.bracketed(), allow_null, allow_utf8);
  FUZZ_CHECK(again.address.has_value() && *again.address == a);
  const auto mailbox = Address::parseMailbox(a.str(), allow_utf8);
  FUZZ_CHECK(mailbox.has_value() && *mailbox == a);
  // What is valid without SMTPUTF8 stays valid with it.
  if (!allow_utf8) {
    const auto utf8 = Address::parsePath(path, allow_null, true);
    FUZZ_CHECK(utf8.address.has_value() && *utf8.address == a);
  }
}

void checkAllModes(std::string_view path) {
  for (const bool allow_null : {false, true}) {
    for (const bool allow_utf8 : {false, true}) {
      checkPath(path, allow_null, allow_utf8);
    }
  }
}

void checkPathArgument(std::string_view argument, std::string_view keyword) {
  const auto r = relayguard::smtp::parsePathArgument(argument, keyword);
  if (!r.value) {
    FUZZ_CHECK(!r.error.empty());
    return;
  }
  FUZZ_CHECK(r.error.empty());
  const auto path = r.value->path;
  FUZZ_CHECK(within(path, argument));
  FUZZ_CHECK(path.size() >= 2 && path.front() == '<' && path.back() == '>');
  for (const auto& p : r.value->params) {
    FUZZ_CHECK(!p.keyword.empty());
    for (char c : p.keyword) {
      FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-');
    }
    FUZZ_CHECK(p.value.find(' ') == std::string::npos);
    FUZZ_CHECK(p.value.find('\t') == std::string::npos);
  }
  checkAllModes(path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  const auto cmd = relayguard::smtp::parseCommand(line);
  FUZZ_CHECK(within(cmd.verb_text, line));
  FUZZ_CHECK(within(cmd.argument, line));
  FUZZ_CHECK(cmd.verb_text.find(' ') == std::string_view::npos);
  if (!cmd.argument.empty()) {
    FUZZ_CHECK(cmd.argument.front() != ' ' && cmd.argument.front() != '\t');
    FUZZ_CHECK(cmd.argument.back() != ' ' && cmd.argument.back() != '\t');
  }
  if (cmd.verb != relayguard::smtp::Verb::kUnknown) {
    FUZZ_CHECK(cmd.verb_text.size() >= 4 && cmd.verb_text.size() <= 8);
  }

  checkPathArgument(cmd.argument, "FROM:");
  checkPathArgument(cmd.argument, "TO:");
  checkPathArgument(line, "FROM:");
  checkAllModes(line);
  (void)Address::parseMailbox(line, false);
  (void)Address::parseMailbox(line, true);
  return 0;
}
