// command: parsing of one SMTP command line (without its CRLF) into a verb and arguments.
//
// Pure functions over untrusted bytes: they never throw and never allocate per byte. The session
// decides what each parse failure answers. Fuzzed by tests/fuzz/command_fuzz.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::smtp {

enum class Verb {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
  kBdat,
  kUnknown
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string_view verb_text;  // as sent
  std::string_view argument;   // everything after the first space, trimmed
};

Command parseCommand(std::string_view line);

// "FROM:<a@b> SIZE=10 BODY=8BITMIME": the path (with its brackets) and the ESMTP parameters.
struct MailParameter {
  std::string keyword;  // upper case
  std::string value;    // empty when the parameter has no "="
};
struct PathArgument {
  std::string_view path;
  std::vector<MailParameter> params;
};

struct PathArgumentResult {
  std::optional<PathArgument> value;
  std::string error;  // why it failed, for the 501 text
};

// `keyword` is "FROM:" for MAIL and "TO:" for RCPT (matched case-insensitively; spaces after the
// colon are tolerated, as most servers do).
PathArgumentResult parsePathArgument(std::string_view argument, std::string_view keyword);

}  // namespace relayguard::smtp
